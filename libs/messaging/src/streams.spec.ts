import { streamReplicas } from './streams';

describe('streamReplicas', () => {
  it('is 1 when NATS_STREAM_REPLICAS is unset or empty', () => {
    expect(streamReplicas({})).toBe(1);
    expect(streamReplicas({ NATS_STREAM_REPLICAS: ' ' })).toBe(1);
  });

  it('reads NATS_STREAM_REPLICAS', () => {
    expect(streamReplicas({ NATS_STREAM_REPLICAS: '3' })).toBe(3);
  });

  it.each(['0', '6', '2.5', 'three', '-1'])('refuses NATS_STREAM_REPLICAS=%s', (value) => {
    expect(() => streamReplicas({ NATS_STREAM_REPLICAS: value })).toThrow(/NATS_STREAM_REPLICAS must be a whole number from 1 to 5/);
  });
});
