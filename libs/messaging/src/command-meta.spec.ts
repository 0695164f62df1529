import { metaFromHeaders, metaToHeaders } from './command-meta';

describe('command meta headers', () => {
  it('carries actor, correlation, idempotency key, expected version and the consistency floor', () => {
    const meta = { actor: 'user:1', correlationId: 'c', idempotencyKey: 'k', expectedVersion: 3, minSequence: 42 };
    expect(metaFromHeaders(metaToHeaders(meta))).toEqual(meta);
  });

  it('reads a missing, zero, negative, fractional or garbled floor as none', () => {
    for (const value of ['', '0', '-5', '1.5', 'abc', '1e300']) {
      const h = metaToHeaders({ actor: 'user:1' });
      h.set('enc-min-sequence', value);
      expect([value, metaFromHeaders(h).minSequence]).toEqual([value, undefined]);
    }
    expect(metaFromHeaders(undefined)).toEqual({ actor: 'system', correlationId: undefined, idempotencyKey: undefined, expectedVersion: undefined, minSequence: undefined });
  });
});
