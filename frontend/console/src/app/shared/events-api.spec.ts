import { FeedItem, ReadForward, newestFirstPage } from './events-api';

/** A log of `size` events; every `every`-th one is a server event, the rest user events. */
function log(size: number, every = 1) {
  const events: FeedItem[] = Array.from({ length: size }, (_, i) => {
    const sequence = i + 1;
    const type = sequence % every === 0 ? 'server.running' : 'user.created';
    return { sequence, event: { specversion: '1.0', id: `e${sequence}`, source: 't', type, subject: 's', time: '', data: null, actor: null, aggregateversion: 1 } };
  });
  const reads: { after: number; limit: number }[] = [];
  /** Like GET /events: forward from `after`, filtered, `nextCursor` when the page is full. */
  const read = (type?: string): ReadForward => async (after, limit) => {
    reads.push({ after, limit });
    const items = events.filter((e) => e.sequence > after && (!type || e.event.type === type)).slice(0, limit);
    return { items, nextCursor: items.length === limit ? String(items[items.length - 1].sequence) : null };
  };
  return { read, reads };
}

const seqs = (items: FeedItem[]) => items.map((i) => i.sequence);

describe('newestFirstPage', () => {
  it('lists the newest events first, and the next page goes on back to the first event', async () => {
    const { read, reads } = log(23);
    const first = await newestFirstPage(read(), { top: 23, floor: 0, limit: 10 });
    expect(seqs(first.items)).toEqual([23, 22, 21, 20, 19, 18, 17, 16, 15, 14]);
    expect(first.nextCursor).toBe('13');
    // Unfiltered, it reads exactly the window it shows.
    expect(reads).toEqual([{ after: 13, limit: 10 }]);

    const second = await newestFirstPage(read(), { top: 13, floor: 0, limit: 10 });
    expect(seqs(second.items)).toEqual([13, 12, 11, 10, 9, 8, 7, 6, 5, 4]);
    const third = await newestFirstPage(read(), { top: Number(second.nextCursor), floor: 0, limit: 10 });
    expect(seqs(third.items)).toEqual([3, 2, 1]);
    expect(third.nextCursor).toBeNull();
  });

  it('widens the window until a filtered page is full, and stops at the floor (the After filter)', async () => {
    const { read, reads } = log(100, 7);
    const first = await newestFirstPage(read('server.running'), { top: 100, floor: 0, limit: 5 });
    expect(seqs(first.items)).toEqual([98, 91, 84, 77, 70]);
    // Each wider window reads only its part not read before: (95, 100], (80, 95], (20, 80].
    expect(reads.slice(0, 3)).toEqual([{ after: 95, limit: 5 }, { after: 80, limit: 15 }, { after: 20, limit: 60 }]);
    const next = await newestFirstPage(read('server.running'), { top: Number(first.nextCursor), floor: 0, limit: 5 });
    expect(seqs(next.items)).toEqual([63, 56, 49, 42, 35]);

    const afterFloor = await newestFirstPage(read('server.running'), { top: 100, floor: 80, limit: 5 });
    expect(seqs(afterFloor.items)).toEqual([98, 91, 84]);
    expect(afterFloor.nextCursor).toBeNull();
  });

  it('reads a window holding more matches than one request returns', async () => {
    const { read, reads } = log(3000);
    const page = await newestFirstPage(read(), { top: 3000, floor: 0, limit: 1500 });
    expect(page.items).toHaveLength(1500);
    expect([page.items[0].sequence, page.items[1499].sequence]).toEqual([3000, 1501]);
    expect(reads).toEqual([{ after: 1500, limit: 1000 }, { after: 2500, limit: 500 }]);
    const none = await newestFirstPage(read('user.created'), { top: 3000, floor: 0, limit: 3 });
    expect(none).toEqual({ items: [], nextCursor: null });
  });
});
