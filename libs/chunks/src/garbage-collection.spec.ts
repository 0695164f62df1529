import type { StoredChunk } from './chunk-store';
import { countReferences, isGarbage, selectGarbage } from './garbage-collection';

const NOW = new Date('2026-11-30T12:00:00Z');
const MINUTE = 60_000;
const chunk = (hash: string, ageMs: number): StoredChunk => ({ hash: hash.repeat(64), size: 10, storedAt: new Date(NOW.getTime() - ageMs) });

describe('isGarbage', () => {
  it('collects an unreferenced chunk older than the grace period', () => {
    expect(isGarbage(chunk('a', 11 * MINUTE), new Set(), NOW, 10 * MINUTE)).toBe(true);
  });

  it('never collects a chunk younger than the grace period, referenced or not (uploads in flight)', () => {
    expect(isGarbage(chunk('a', 9 * MINUTE), new Set(), NOW, 10 * MINUTE)).toBe(false);
    expect(isGarbage(chunk('a', 10 * MINUTE), new Set(), NOW, 10 * MINUTE)).toBe(false);
  });

  it('never collects a chunk a live file references, however old', () => {
    expect(isGarbage(chunk('a', 365 * 24 * 60 * MINUTE), new Set(['a'.repeat(64)]), NOW, 10 * MINUTE)).toBe(false);
  });

  it('keeps a chunk stored after now (clock skew between writers)', () => {
    expect(isGarbage(chunk('a', -5 * MINUTE), new Set(), NOW, 0)).toBe(false);
  });
});

describe('selectGarbage', () => {
  it('picks exactly the old unreferenced chunks', () => {
    const chunks = [chunk('a', 60 * MINUTE), chunk('b', 60 * MINUTE), chunk('c', MINUTE), chunk('d', 60 * MINUTE)];
    const live = { has: (hash: string) => hash === 'b'.repeat(64) };

    const garbage = selectGarbage(chunks, live, NOW, 10 * MINUTE);

    expect(garbage.map((c) => c.hash[0])).toEqual(['a', 'd']);
  });
});

describe('countReferences', () => {
  it('counts every reference, also repeats inside one file', () => {
    const counts = countReferences([['x', 'y', 'x'], ['y'], []]);

    expect(Object.fromEntries(counts)).toEqual({ x: 2, y: 2 });
  });
});
