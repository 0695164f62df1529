import { heldUntil, nextStep, type LeaseRecord } from './lease';

const other: LeaseRecord = { holder: 'b', ttlMs: 5000 };

describe('nextStep', () => {
  it('creates a lease whose key has no value', () => {
    const step = nextStep(null, 'a', undefined, 1000);

    expect(step).toEqual({ action: 'create' });
  });

  it('waits a whole TTL from the moment it first sees a revision of another holder', () => {
    const step = nextStep({ revision: 7, record: other }, 'a', undefined, 1000);

    expect(step).toEqual({ action: 'wait', sighting: { revision: 7, seenAt: 1000 }, until: 6000 });
  });

  it('takes over a revision that stayed unchanged for the TTL', () => {
    const first = nextStep({ revision: 7, record: other }, 'a', undefined, 1000);
    const sighting = first.action === 'wait' ? first.sighting : undefined;

    const step = nextStep({ revision: 7, record: other }, 'a', sighting, 6000);

    expect(step).toEqual({ action: 'take', revision: 7 });
  });

  it('restarts the wait when the holder renewed in between', () => {
    const step = nextStep({ revision: 8, record: other }, 'a', { revision: 7, seenAt: 1000 }, 5999);

    expect(step).toEqual({ action: 'wait', sighting: { revision: 8, seenAt: 5999 }, until: 10_999 });
  });

  it('uses the TTL the holder wrote, not its own', () => {
    const step = nextStep({ revision: 3, record: { holder: 'b', ttlMs: 1000 } }, 'a', { revision: 3, seenAt: 0 }, 1000);

    expect(step).toEqual({ action: 'take', revision: 3 });
  });

  it('takes a released, deleted or own lease at once', () => {
    const released = nextStep({ revision: 4, record: { ...other, released: true } }, 'a', undefined, 0);
    const deleted = nextStep({ revision: 5, record: null }, 'a', undefined, 0);
    const own = nextStep({ revision: 6, record: { holder: 'a', ttlMs: 5000 } }, 'a', undefined, 0);

    expect([released, deleted, own]).toEqual([
      { action: 'take', revision: 4 },
      { action: 'take', revision: 5 },
      { action: 'take', revision: 6 },
    ]);
  });
});

describe('heldUntil', () => {
  it('ends a tenth of the TTL before a contender that saw the write may take over', () => {
    const writeStartedAt = 1000;
    const contenderSawItAt = 1002;

    const until = heldUntil(writeStartedAt, 5000);

    expect(until).toBe(5500);
    expect(until).toBeLessThan(contenderSawItAt + 5000);
  });
});
