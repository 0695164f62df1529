import { MAX_CLOCK_SKEW_MS, SAMPLE_FIELDS, sampleOf } from './samples';

const NODE = '6f1c2b1e-1111-4000-8000-000000000001';
const SERVER = '6f1c2b1e-2222-4000-8000-000000000002';
const at = Date.parse('2026-12-01T10:00:00Z');
const value = (values: (number | null)[], field: (typeof SAMPLE_FIELDS)[number]) => values[SAMPLE_FIELDS.indexOf(field)];

describe('sampleOf', () => {
  it('reads a node sample in seed 001 names, the node id from the subject', () => {
    const sample = sampleOf(`tel.${NODE}.usage`, { node_id: 'forged', at, cpu_percent: 12.5, memory_used: 100, memory_total: 200, disk_used: 3, disk_total: 4, net_rx: 5, net_tx: 6, load: [0.1, 0.2, 0.3], servers: [] }, at);

    expect(sample).toMatchObject({ series: `node:${NODE}`, nodeId: NODE, t: at });
    expect(value(sample!.values, 'cpu_percent')).toBe(12.5);
    expect(value(sample!.values, 'memory_bytes')).toBe(100);
    expect(value(sample!.values, 'memory_limit_bytes')).toBe(200);
    expect(value(sample!.values, 'load15')).toBe(0.3);
    expect(value(sample!.values, 'uptime_ms')).toBeNull();
  });

  it('reads a server sample under the node that published it; network fields stay null', () => {
    const sample = sampleOf(`tel.${NODE}.${SERVER}.usage`, { server_id: 'ignored', at, cpu_percent: 3, memory_bytes: 1024, memory_limit_bytes: 4096, disk_bytes: 7, uptime_ms: 99 }, at);

    expect(sample).toMatchObject({ series: `server:${SERVER}`, nodeId: NODE });
    expect(value(sample!.values, 'memory_bytes')).toBe(1024);
    expect(value(sample!.values, 'net_rx')).toBeNull();
    expect(value(sample!.values, 'uptime_ms')).toBe(99);
  });

  it('takes the stream time when the sample claims a time too far from it', () => {
    const stored = at;

    const past = sampleOf(`tel.${NODE}.usage`, { at: stored - MAX_CLOCK_SKEW_MS - 1, cpu_percent: 1 }, stored);
    const near = sampleOf(`tel.${NODE}.usage`, { at: stored - 1000, cpu_percent: 1 }, stored);
    const none = sampleOf(`tel.${NODE}.usage`, { cpu_percent: 1 }, stored);

    expect([past!.t, near!.t, none!.t]).toEqual([stored, stored - 1000, stored]);
  });

  it('keeps numbers only: strings, NaN and missing fields are null', () => {
    const sample = sampleOf(`tel.${NODE}.usage`, { at, cpu_percent: '50', memory_used: Number.NaN }, at);

    expect(value(sample!.values, 'cpu_percent')).toBeNull();
    expect(value(sample!.values, 'memory_bytes')).toBeNull();
  });

  it('refuses other subjects and bodies that are not objects', () => {
    expect(sampleOf(`tel.${NODE}.other`, { at }, at)).toBeNull();
    expect(sampleOf('tel.not-a-uuid.usage', { at }, at)).toBeNull();
    expect(sampleOf(`tel.${NODE}.x.usage`, { at }, at)).toBeNull();
    expect(sampleOf(`tel.${NODE}.usage`, [1, 2], at)).toBeNull();
    expect(sampleOf(`tel.${NODE}.usage`, null, at)).toBeNull();
  });
});
