import { z } from 'zod';
import { defineEvent } from '@encedeus/contracts';

/** Padding that brings a bench event to the size of a typical domain event (~450 bytes of CloudEvent JSON). */
export const NOTE = 'a typical short domain payload: names, ids, a few numbers...'.padEnd(64, '.');

/** The event the store and projection benches append (declared here only; never in libs/contracts). */
export const benchRecorded = defineEvent(
  'bench.recorded',
  z.object({ n: z.number().int(), note: z.string() }),
  'bench: one step of a benchmark aggregate',
);

/** The event the REST round-trip stub service appends to `evt.server.<id>` (the nodes service's NATS user may publish there). */
export const benchPinged = defineEvent('server.bench_pinged', z.object({ n: z.number().int() }), 'bench: a trivial command went through');
