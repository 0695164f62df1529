import { BoundedTail } from './bounded-tail';

describe('BoundedTail', () => {
  const tail = (max: number) => new BoundedTail<string>(max, (s) => s.length);

  it('keeps everything while it fits, numbered in arrival order', () => {
    const t = tail(10);
    expect([t.push('ab'), t.push('cd'), t.push('ef')]).toEqual([1, 2, 3]);
    expect(t.entries()).toEqual([{ seq: 1, item: 'ab' }, { seq: 2, item: 'cd' }, { seq: 3, item: 'ef' }]);
    expect([t.bytes, t.length, t.dropped, t.lastSeq]).toEqual([6, 3, 0, 3]);
  });

  it('drops the oldest items to stay within maxBytes', () => {
    const t = tail(5);
    for (const s of ['aa', 'bb', 'cc', 'dd']) t.push(s);
    expect(t.entries()).toEqual([{ seq: 3, item: 'cc' }, { seq: 4, item: 'dd' }]);
    expect([t.bytes, t.dropped]).toEqual([4, 2]);
  });

  it('does not keep an item larger than maxBytes, and keeps the rest', () => {
    const t = tail(4);
    t.push('ab');
    expect(t.push('too long')).toBe(2);
    t.push('cd');
    expect(t.entries().map((e) => e.item)).toEqual(['ab', 'cd']);
    expect(t.dropped).toBe(1);
  });

  it('stays bounded over many pushes (the dropped front is compacted)', () => {
    const t = tail(100);
    for (let i = 0; i < 100_000; i++) t.push(`line ${i % 10}`);
    expect(t.bytes).toBeLessThanOrEqual(100);
    expect(t.length).toBe(16);
    expect(t.entries()[15]).toEqual({ seq: 100_000, item: 'line 9' });
    expect(t.dropped).toBe(100_000 - 16);
    expect((t as unknown as { items: unknown[] }).items.length).toBeLessThan(200);
  });

  it('refuses a non-positive bound', () => {
    expect(() => tail(0)).toThrow(/maxBytes/);
  });
});
