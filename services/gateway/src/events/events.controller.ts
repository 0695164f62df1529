import { Controller, Get, Inject, Query } from '@nestjs/common';
import { JSONCodec, type NatsConnection } from 'nats';
import { ApiTags } from '@nestjs/swagger';
import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';
import { text } from '@encedeus/contracts';
import { AGGREGATES, readEventData, STREAMS, Subjects, type AggregateName, type CloudEvent, type Page, type RecordedEvent } from '@encedeus/contracts';
import { EventStore, NATS_CONNECTION, readRange } from '@encedeus/messaging';
import { CurrentPrincipal, RequirePermission, type Principal } from '@encedeus/security';
import { SubjectNames } from '../audit/subject-names';

const eventsQuery = z.object({
  after: z.coerce.number().int().min(0).optional().describe('Stream sequence to start after (exclusive)'),
  cursor: text().regex(/^\d{1,15}$/).optional().describe('nextCursor of the previous page (same as after)'),
  type: text().regex(/^[a-z]+\.[a-z_]+$/).optional().describe('Only events of this type, e.g. user.created'),
  aggregate: z.enum(AGGREGATES).optional().describe('Only events of this aggregate type'),
  aggregate_id: text().regex(/^[A-Za-z0-9_-]+$/).optional().describe('Only events of this aggregate (needs aggregate)'),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
class EventsQuery extends createZodDto(eventsQuery) {}

const codec = JSONCodec<CloudEvent>();

/** One event of the feed, with the names of what it is about and who did it (SubjectNames: only those the caller may see). */
export type NamedEvent = RecordedEvent & { subjectName?: string; actorName?: string };

/** `GET /api/v1/events`: the raw CloudEvents of stream EVENTS, paginated by stream sequence, with names beside ids. */
@ApiTags('events')
@Controller('events')
export class EventsController {
  constructor(
    private readonly store: EventStore,
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    private readonly names: SubjectNames,
  ) {}

  @RequirePermission('events.read')
  @Get()
  async list(@Query() query: EventsQuery, @CurrentPrincipal() p: Principal): Promise<Page<NamedEvent> & { lastSequence: number }> {
    const after = query.after ?? (query.cursor ? Number(query.cursor) : 0);
    const filterSubject = query.aggregate
      ? query.aggregate_id
        ? Subjects.event(query.aggregate as AggregateName, query.aggregate_id)
        : Subjects.eventsOf(query.aggregate as AggregateName)
      : Subjects.allEvents;
    const lastSequence = await this.store.lastSequence();
    // readRange ends at once when nothing in the range matches the filter (a bare consume() waited forever).
    const items: RecordedEvent[] = [];
    for await (const m of readRange(this.nc, { stream: STREAMS.events, filterSubject, from: after + 1, to: lastSequence })) {
      const event = codec.decode(m.data);
      if (query.type && event.type !== query.type) continue;
      event.data = readEventData(event.type, event.data);
      items.push({ sequence: m.seq, event });
      if (items.length >= query.limit) break;
    }
    const names = await this.names.resolve(p, items.map((i) => i.event.subject), items.map((i) => i.event.actor));
    const named: NamedEvent[] = items.map((item) => {
      const subjectName = names.subject(item.event.subject);
      const actorName = names.actor(item.event.actor);
      return { ...item, ...(subjectName ? { subjectName } : {}), ...(actorName ? { actorName } : {}) };
    });
    const last = items[items.length - 1]?.sequence;
    return { items: named, nextCursor: items.length === query.limit && last !== undefined ? String(last) : null, lastSequence };
  }
}
