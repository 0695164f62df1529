import { Controller, Get, Query } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';
import { AGGREGATES, Subjects, type AggregateName, type Page, type RecordedEvent } from '@encedeus/contracts';
import { EventStore } from '@encedeus/messaging';
import { RequirePermission } from '@encedeus/security';

const eventsQuery = z.object({
  after: z.coerce.number().int().min(0).optional().describe('Stream sequence to start after (exclusive)'),
  cursor: z.string().regex(/^\d+$/).optional().describe('nextCursor of the previous page (same as after)'),
  type: z.string().regex(/^[a-z]+\.[a-z_]+$/).optional().describe('Only events of this type, e.g. user.created'),
  aggregate: z.enum(AGGREGATES).optional().describe('Only events of this aggregate type'),
  aggregate_id: z.string().regex(/^[A-Za-z0-9_-]+$/).optional().describe('Only events of this aggregate (needs aggregate)'),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
class EventsQuery extends createZodDto(eventsQuery) {}

/** `GET /api/v1/events`: the raw CloudEvents of stream EVENTS, paginated by stream sequence. */
@ApiTags('events')
@Controller('events')
export class EventsController {
  constructor(private readonly store: EventStore) {}

  @RequirePermission('events.read')
  @Get()
  async list(@Query() query: EventsQuery): Promise<Page<RecordedEvent> & { lastSequence: number }> {
    const after = query.after ?? (query.cursor ? Number(query.cursor) : 0);
    const filterSubject = query.aggregate
      ? query.aggregate_id
        ? Subjects.event(query.aggregate as AggregateName, query.aggregate_id)
        : Subjects.eventsOf(query.aggregate as AggregateName)
      : Subjects.allEvents;
    const items = await this.store.readAll({ after, limit: query.limit, filterSubject, type: query.type });
    const lastSequence = await this.store.lastSequence();
    const last = items[items.length - 1]?.sequence;
    return { items, nextCursor: items.length === query.limit && last !== undefined ? String(last) : null, lastSequence };
  }
}
