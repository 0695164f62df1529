import { z } from 'zod';
import { ValidationError } from '../errors';

/** One event type of the contract: its wire name and the schema of its `data`. */
export interface EventDefinition<T extends string = string, S extends z.ZodType = z.ZodType> {
  readonly type: T;
  readonly schema: S;
  /** What this event means, for docs/asyncapi.yaml. */
  readonly description: string;
}

export type EventData<D extends EventDefinition> = z.infer<D['schema']>;

/** An event to append: `{ type, data }` (events are data, not classes). */
export interface NewEvent<T extends string = string, D = unknown> {
  type: T;
  data: D;
}

const registry = new Map<string, EventDefinition>();

/** Declares an event type. Re-declaring a type with another schema is a programming error. */
export function defineEvent<T extends string, S extends z.ZodType>(type: T, schema: S, description: string): EventDefinition<T, S> {
  if (!/^[a-z]+\.[a-z_]+$/.test(type)) throw new Error(`contracts/events: "${type}" is not <aggregate>.<past_tense>`);
  const existing = registry.get(type);
  if (existing && existing.schema !== schema) throw new Error(`contracts/events: ${type} is declared twice`);
  const definition = { type, schema, description };
  registry.set(type, definition);
  return definition;
}

/** Builds a typed `{ type, data }` for a declared event. */
export function event<D extends EventDefinition>(definition: D, data: EventData<D>): NewEvent<D['type'], EventData<D>> {
  return { type: definition.type, data };
}

export function eventDefinition(type: string): EventDefinition | undefined {
  return registry.get(type);
}

export function eventTypes(): EventDefinition[] {
  return [...registry.values()].sort((a, b) => a.type.localeCompare(b.type));
}

/** Validates an event's data against its declared schema (on append and on read). */
export function validateEventData<T = unknown>(type: string, data: unknown): T {
  const definition = registry.get(type);
  if (!definition) throw new ValidationError(`Unknown event type ${type}`, [{ path: 'type', message: 'not declared in libs/contracts' }]);
  const parsed = definition.schema.safeParse(data);
  if (!parsed.success) {
    throw new ValidationError(
      `Event ${type} has invalid data`,
      parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })),
    );
  }
  return parsed.data as T;
}

/**
 * Validation on read: a declared type is checked against its schema (throws ValidationError);
 * a type this reader does not know (a newer producer) passes through untouched, so one unknown
 * event never stalls a projection. Readers ignore types they do not handle.
 */
export function readEventData<T = unknown>(type: string, data: unknown): T {
  return registry.has(type) ? validateEventData<T>(type, data) : (data as T);
}
