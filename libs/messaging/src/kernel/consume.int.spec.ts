import { randomUUID } from 'node:crypto';
import { AckPolicy, DeliverPolicy, type JetStreamManager, type JsMsg, type NatsConnection } from 'nats';
import { startNats, type NatsHandle } from '@encedeus/testing';
import { connectNats } from '../nats-connection';
import { ConsumeLoop } from './consume-loop';
import { readRange } from './read-range';

/** Resolves when `check` holds, polling every 20 ms; rejects after `ms`. */
async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const text = (m: JsMsg) => new TextDecoder().decode(m.data);

describe('readRange and ConsumeLoop on a real nats-server', () => {
  let nats: NatsHandle;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const run = randomUUID().slice(0, 8);
  const stream = `RANGE_${run}`;
  const prefix = `rt${run}`;
  /** seq of each message published, by body. */
  const seqOf = new Map<string, number>();

  async function publish(subject: string, body: string): Promise<number> {
    const ack = await nc.jetstream().publish(`${prefix}.${subject}`, new TextEncoder().encode(body));
    seqOf.set(body, ack.seq);
    return ack.seq;
  }

  async function collect(iterable: AsyncIterable<JsMsg>): Promise<string[]> {
    const out: string[] = [];
    for await (const m of iterable) out.push(text(m));
    return out;
  }

  async function consumerCount(): Promise<number> {
    return (await jsm.streams.info(stream)).state.consumer_count;
  }

  beforeAll(async () => {
    nats = await startNats();
    ({ nc } = await connectNats({ servers: nats.url, creds: await nats.creds('admin'), name: 'consume-int' }));
    jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: stream, subjects: [`${prefix}.>`] });
    // a.1 … a.5 and b.1 … b.5 interleaved: sequences 1 … 10.
    for (let i = 1; i <= 5; i++) {
      await publish('a', `a${i}`);
      await publish('b', `b${i}`);
    }
  });

  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  describe('readRange', () => {
    it('reads one filter between two sequences, in order, and removes its consumer', async () => {
      const read = await collect(readRange(nc, { stream, filterSubject: `${prefix}.a`, from: seqOf.get('a2'), to: seqOf.get('a4') }));

      expect(read).toEqual(['a2', 'a3', 'a4']);
      let count = -1;
      for (let i = 0; i < 50 && count !== 0; i++) {
        count = await consumerCount();
        if (count !== 0) await new Promise((r) => setTimeout(r, 20));
      }
      expect(count).toBe(0);
    });

    it('reads to the end of the stream when no end is given', async () => {
      expect(await collect(readRange(nc, { stream, filterSubject: `${prefix}.>`, from: seqOf.get('b4') }))).toEqual(['b4', 'a5', 'b5']);
    });

    it('ends at once when nothing in the range matches the filter', async () => {
      const started = Date.now();

      const none = await collect(readRange(nc, { stream, filterSubject: `${prefix}.c`, from: 1 }));
      const past = await collect(readRange(nc, { stream, filterSubject: `${prefix}.>`, from: 11 }));
      const gap = await collect(readRange(nc, { stream, filterSubject: `${prefix}.a`, from: seqOf.get('b5') }));

      expect(none).toEqual([]);
      expect(past).toEqual([]);
      expect(gap).toEqual([]);
      expect(Date.now() - started).toBeLessThan(2000);
    });

    it('stops at `to` even when more matching messages follow', async () => {
      expect(await collect(readRange(nc, { stream, filterSubject: `${prefix}.b`, to: seqOf.get('b2') }))).toEqual(['b1', 'b2']);
    });

    it('starts at a time instead of a sequence', async () => {
      await new Promise((r) => setTimeout(r, 20));
      const since = new Date();
      await new Promise((r) => setTimeout(r, 20));
      await publish('t', 't1');
      await publish('t', 't2');

      expect(await collect(readRange(nc, { stream, filterSubject: `${prefix}.>`, startTime: since }))).toEqual(['t1', 't2']);
    });

    it('may be left early', async () => {
      const read: string[] = [];
      for await (const m of readRange(nc, { stream, filterSubject: `${prefix}.a` })) {
        read.push(text(m));
        if (read.length === 2) break;
      }

      expect(read).toEqual(['a1', 'a2']);
    });
  });

  describe('ConsumeLoop', () => {
    it('reads from a sequence, then follows live messages', async () => {
      const seen: string[] = [];
      const loop = ConsumeLoop.ordered(nc, { name: 'test', stream, filterSubject: `${prefix}.a`, from: { sequence: seqOf.get('a4')! }, handle: (m) => void seen.push(text(m)) });

      expect(await loop.start()).toBe(true);
      await publish('a', 'a6');
      await publish('b', 'b6');
      await publish('a', 'a7');

      await until('a7', () => seen.includes('a7'));
      await loop.stop();
      expect(seen).toEqual(['a4', 'a5', 'a6', 'a7']);
      expect(loop.lastSequence).toBe(seqOf.get('a7'));
    });

    it("'new' reads only what is appended after start", async () => {
      const seen: string[] = [];
      const loop = ConsumeLoop.ordered(nc, { name: 'test', stream, filterSubject: `${prefix}.>`, from: 'new', handle: (m) => void seen.push(text(m)) });

      await loop.start();
      await publish('n', 'n1');

      await until('n1', () => seen.includes('n1'));
      await loop.stop();
      expect(seen).toEqual(['n1']);
    });

    it('gives a message whose handler failed again, and skips none', async () => {
      const seen: string[] = [];
      let failures = 0;
      const loop = ConsumeLoop.ordered(nc, {
        name: 'test',
        stream,
        filterSubject: `${prefix}.b`,
        from: { sequence: seqOf.get('b3')! },
        retryDelayMs: 10,
        onError: () => undefined,
        handle: (m) => {
          if (text(m) === 'b4' && failures++ < 2) throw new Error('not yet');
          seen.push(text(m));
        },
      });

      await loop.start();

      await until('b6', () => seen.includes('b6'));
      await loop.stop();
      expect(failures).toBe(3);
      expect(seen).toEqual(['b3', 'b4', 'b5', 'b6']);
    });

    it('re-opens a durable consumer deleted under it, and flushes on each end', async () => {
      const durable = `loop_${run}`;
      const seen: string[] = [];
      let drained = 0;
      let opens = 0;
      const loop = new ConsumeLoop({
        name: 'test',
        retryDelayMs: 10,
        closed: () => nc.isClosed(),
        onError: () => undefined,
        consume: { max_messages: 100, expires: 1000, abort_on_missing_resource: true },
        open: async () => {
          opens++;
          const exists = await jsm.consumers.info(stream, durable).catch(() => undefined);
          if (!exists) await jsm.consumers.add(stream, { durable_name: durable, ack_policy: AckPolicy.Explicit, filter_subject: `${prefix}.d`, opt_start_seq: seqOf.get('d1')!, deliver_policy: DeliverPolicy.StartSequence });
          return nc.jetstream().consumers.get(stream, durable);
        },
        handle: (m) => {
          seen.push(text(m));
          m.ack();
        },
        drained: () => void drained++,
      });
      await publish('d', 'd1');

      await loop.start();
      await until('d1', () => seen.includes('d1'));
      await jsm.consumers.delete(stream, durable);
      await until('a second open', () => opens >= 2);
      await publish('d', 'd2');

      await until('d2', () => seen.includes('d2'));
      await loop.stop();
      expect(seen.filter((s) => s === 'd2')).toEqual(['d2']);
      expect(drained).toBeGreaterThanOrEqual(1);
    });

    it('stops, and start() answers false when stopped before the first open', async () => {
      const loop = new ConsumeLoop({ name: 'test', retryDelayMs: 10, onError: () => undefined, open: () => Promise.reject(new Error('no stream')), handle: () => undefined });

      const started = loop.start();
      await new Promise((r) => setTimeout(r, 50));
      await loop.stop();

      expect(await started).toBe(false);
      expect(loop.running).toBe(false);
    });
  });
});
