import { METRICS_MAX_POINTS, metricsQuerySchema, parseStep } from './metrics';

const target = 'node:6F1C2B1E-1111-4000-8000-000000000001';

describe('metricsQuerySchema', () => {
  it('reads epoch ms and ISO times and steps in seconds or units, and lower-cases the target', () => {
    const q = metricsQuerySchema.parse({ target, from: '2026-12-01T00:00:00Z', to: String(Date.parse('2026-12-01T01:00:00Z')), step: '1m' });

    expect(q).toEqual({ target: target.toLowerCase(), from: Date.parse('2026-12-01T00:00:00Z'), to: Date.parse('2026-12-01T01:00:00Z'), step: 60 });
  });

  it('defaults to the last hour with a step from the range', () => {
    const q = metricsQuerySchema.parse({ target });

    expect(q.to - q.from).toBe(3600_000);
    expect(q.step).toBe(15);
  });

  it.each([
    [{ target: 'vm:1' }, 'target'],
    [{ target, from: 'yesterday' }, 'from'],
    [{ target, from: 2000, to: 1000 }, 'to'],
    [{ target, from: 0, to: 400 * 24 * 3600_000 }, 'from'],
    [{ target, step: '0' }, 'step'],
    [{ target, step: '5x' }, 'step'],
    [{ target, from: 0, to: (METRICS_MAX_POINTS + 1) * 1000, step: 1 }, 'step'],
  ])('refuses %j naming %s', (input, field) => {
    const result = metricsQuerySchema.safeParse(input);

    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => i.path.join('.'))).toContain(field);
  });

  it('accepts exactly the most points', () => {
    expect(metricsQuerySchema.safeParse({ target, from: 0, to: METRICS_MAX_POINTS * 1000, step: 1 }).success).toBe(true);
  });
});

describe('parseStep', () => {
  it('reads seconds, minutes, hours and days', () => {
    expect(['30', '30s', '5m', '1h', '1d', 7].map((s) => parseStep(s))).toEqual([30, 30, 300, 3600, 86400, 7]);
    expect(parseStep(1.5)).toBeUndefined();
  });
});
