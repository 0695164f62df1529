import { ConflictError, event, NotFoundError, TemplateCreated, TemplateDeleted, TemplateUpdated, type CloudEvent, type EventData, type NewEvent, type UpdateTemplate } from '@encedeus/contracts';

export type TemplateData = Omit<EventData<typeof TemplateCreated>, 'built_in'>;

export interface TemplateState {
  exists: boolean;
  deleted: boolean;
  builtIn: boolean;
  data: TemplateData | null;
}

export const initialTemplate = (): TemplateState => ({ exists: false, deleted: false, builtIn: false, data: null });

export function evolveTemplate(state: TemplateState, e: Pick<CloudEvent, 'type' | 'data'>): TemplateState {
  const d = e.data as Record<string, any>;
  switch (e.type) {
    case TemplateCreated.type: {
      const { built_in, ...data } = d;
      return { exists: true, deleted: false, builtIn: built_in, data: data as TemplateData };
    }
    case TemplateUpdated.type:
      return { ...state, data: { ...state.data!, ...Object.fromEntries(Object.entries(d).filter(([, v]) => v !== undefined)) } };
    case TemplateDeleted.type:
      return { ...state, deleted: true };
    default:
      return state;
  }
}

export const templateReducer = { name: 'template-v1', initialState: initialTemplate, evolve: evolveTemplate };

export function assertTemplate(state: TemplateState, id: string): asserts state is TemplateState & { data: TemplateData } {
  if (!state.exists || state.deleted || !state.data) throw new NotFoundError('Template', id);
}

export function decideUpdateTemplate(state: TemplateState, id: string, patch: UpdateTemplate): NewEvent[] {
  assertTemplate(state, id);
  if (state.builtIn) throw new ConflictError(`Template ${id} is built in and read-only; copy it to change it`);
  const changed = Object.fromEntries(Object.entries(patch).filter(([k, v]) => v !== undefined && JSON.stringify((state.data as any)[k]) !== JSON.stringify(v)));
  return Object.keys(changed).length === 0 ? [] : [event(TemplateUpdated, changed as never)];
}

export function decideDeleteTemplate(state: TemplateState, id: string, serversUsing: number): NewEvent[] {
  assertTemplate(state, id);
  if (state.builtIn) throw new ConflictError(`Template ${id} is built in and cannot be deleted`);
  if (serversUsing > 0) throw new ConflictError(`Template ${id} is used by ${serversUsing} server(s)`, { servers: serversUsing });
  return [event(TemplateDeleted, {})];
}
