import { ConflictError, event, NotFoundError, TemplateCreated, TemplateDeleted, TemplateUpdated, type CloudEvent, type EventData, type NewEvent, type UpdateTemplate } from '@encedeus/contracts';
import type { Decider } from '@encedeus/messaging';

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

export type TemplateCommand =
  /** Creates the template; a template that exists already is left as it is (built-in seeding runs on every boot). */
  | { type: 'create'; data: TemplateData; builtIn: boolean }
  | { type: 'update'; id: string; patch: UpdateTemplate }
  /** `serversUsing`: servers created from it (the handler counts them). */
  | { type: 'delete'; id: string; serversUsing: number };

/** The template decider (see TemplateCommand). */
export const templateDecider: Decider<TemplateState, TemplateCommand> = {
  name: 'template-v1',
  initialState: initialTemplate,
  evolve: evolveTemplate,
  decide(cmd: TemplateCommand, state: TemplateState): NewEvent[] {
    switch (cmd.type) {
      case 'create':
        return state.exists ? [] : [event(TemplateCreated, { ...cmd.data, built_in: cmd.builtIn })];
      case 'update':
        return decideUpdateTemplate(state, cmd.id, cmd.patch);
      case 'delete':
        return decideDeleteTemplate(state, cmd.id, cmd.serversUsing);
    }
  },
};
