import type { NatsConnection } from 'nats';
import { Liveness } from './liveness';

/** A connection that only needs to accept the heartbeat subscription: beats are fed directly. */
const idleConnection = { subscribe: () => ({ unsubscribe() {} }) } as unknown as NatsConnection;

describe('Liveness', () => {
  let offline: { nodeId: string; at: number }[];
  let liveness: Liveness;

  beforeEach(() => {
    jest.useFakeTimers({ now: 1_000_000 });
    offline = [];
    liveness = new Liveness(idleConnection, { online() {}, offline: (nodeId) => offline.push({ nodeId, at: Date.now() }) }, { missed: 3, sweepMs: 200 });
    liveness.start();
  });
  afterEach(async () => {
    await liveness.stop();
    jest.useRealTimers();
  });

  it('declares a silent node offline no later than 3 × its interval after its last heartbeat, whatever the sweep phase', () => {
    for (const phase of [0, 50, 120, 199]) {
      jest.advanceTimersByTime(phase);
      const last = Date.now();
      liveness.beat(`node-${phase}`, { at: last, seq: 1, interval_ms: 5000 } as never);
      jest.advanceTimersByTime(15_000);
      const declared = offline.find((o) => o.nodeId === `node-${phase}`);
      expect(declared).toBeDefined();
      expect(declared!.at - last).toBeLessThanOrEqual(15_000);
      expect(declared!.at - last).toBeGreaterThan(14_500);
    }
  });

  it('keeps a node online while it beats, and brings it back with its next beat', async () => {
    const online = jest.fn();
    await liveness.stop();
    liveness = new Liveness(idleConnection, { online, offline: (nodeId) => offline.push({ nodeId, at: Date.now() }) }, { missed: 3, sweepMs: 200 });
    liveness.start();
    for (let i = 0; i < 10; i++) {
      liveness.beat('steady', { at: Date.now(), seq: i, interval_ms: 1000 } as never);
      jest.advanceTimersByTime(1000);
    }
    expect(liveness.isOnline('steady')).toBe(true);
    expect(offline).toEqual([]);

    jest.advanceTimersByTime(3000);
    expect(liveness.isOnline('steady')).toBe(false);
    liveness.beat('steady', { at: Date.now(), seq: 11, interval_ms: 1000 } as never);
    expect(liveness.isOnline('steady')).toBe(true);
    expect(online).toHaveBeenCalledTimes(2);
  });

  it('takes an answered command as a sign of life for an online node, but never brings an offline one back', () => {
    liveness.beat('busy', { at: Date.now(), seq: 1, interval_ms: 1000 } as never);
    for (let i = 0; i < 5; i++) {
      jest.advanceTimersByTime(1000);
      liveness.touch('busy'); // no heartbeat arrives, but the agent answers commands
    }
    expect(liveness.isOnline('busy')).toBe(true);

    jest.advanceTimersByTime(3000);
    expect(liveness.isOnline('busy')).toBe(false);
    liveness.touch('busy');
    expect(liveness.isOnline('busy')).toBe(false);
  });

  describe('on a replica that does not hold the sweep', () => {
    let online: string[];

    beforeEach(async () => {
      await liveness.stop();
      online = [];
      liveness = new Liveness(idleConnection, { online: (nodeId) => online.push(nodeId), offline: (nodeId) => offline.push({ nodeId, at: Date.now() }) }, { missed: 3, sweepMs: 200, sweeping: false });
      liveness.start();
    });

    it('declares no node offline, but answers offline for a node past its deadline', () => {
      liveness.beat('silent', { at: Date.now(), seq: 1, interval_ms: 1000 } as never);

      jest.advanceTimersByTime(10_000);

      expect(offline).toEqual([]);
      expect(liveness.isOnline('silent')).toBe(false);
      expect(liveness.stats()).toMatchObject({ tracked: 1, online: 0, sweeping: false });
    });

    it('declares an overdue node offline as soon as it starts sweeping, and keeps fresh deadlines', () => {
      liveness.beat('silent', { at: Date.now(), seq: 1, interval_ms: 1000 } as never);
      jest.advanceTimersByTime(5000);
      liveness.beat('alive', { at: Date.now(), seq: 1, interval_ms: 1000 } as never);

      liveness.setSweeping(true);

      expect(offline.map((o) => o.nodeId)).toEqual(['silent']);
      expect(liveness.isOnline('alive')).toBe(true);
    });

    it('announces a node that beats again after its deadline passed (the sweeping replica may have declared it offline)', () => {
      liveness.beat('returning', { at: Date.now(), seq: 1, interval_ms: 1000 } as never);
      jest.advanceTimersByTime(5000);
      liveness.touch('returning');
      expect(liveness.isOnline('returning')).toBe(false);

      liveness.beat('returning', { at: Date.now(), seq: 2, interval_ms: 1000 } as never);

      expect(online).toEqual(['returning', 'returning']);
      expect(liveness.isOnline('returning')).toBe(true);
    });
  });

  it('keeps the interval a node declared when a sign of life carries none (a boot report)', () => {
    const last = Date.now();
    liveness.beat('booting', { at: last, seq: 1, interval_ms: 1000 } as never);
    liveness.beat('booting'); // the boot report
    jest.advanceTimersByTime(3000);

    expect(liveness.isOnline('booting')).toBe(false);
    expect(offline.find((o) => o.nodeId === 'booting')!.at - last).toBeLessThanOrEqual(3000);
  });
});
