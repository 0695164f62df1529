import { METRICS_RETENTION_MS } from '@encedeus/contracts';
import { partitionEnd, partitionOf, resolutionFor } from './metrics-store';

const now = Date.parse('2026-12-01T12:00:00Z');

describe('resolutionFor', () => {
  it('answers short ranges with small steps from raw samples', () => {
    expect(resolutionFor(now - 3600_000, 15, now)).toBe('raw');
  });

  it('uses 1-minute rollups for a step of a minute or more, and for anything older than 48 h', () => {
    expect(resolutionFor(now - 3600_000, 60, now)).toBe('1m');
    expect(resolutionFor(now - 7 * 24 * 3600_000, 605, now)).toBe('1m');
    expect(resolutionFor(now - METRICS_RETENTION_MS.raw - 1, 10, now)).toBe('1m');
  });

  it('uses 1-hour rollups for hourly steps and for anything older than 30 days', () => {
    expect(resolutionFor(now - 3600_000, 3600, now)).toBe('1h');
    expect(resolutionFor(now - METRICS_RETENTION_MS['1m'] - 1, 60, now)).toBe('1h');
  });
});

describe('partitionOf / partitionEnd', () => {
  it('cuts raw samples by UTC day and hourly rollups by month, and reads the bound back from the name', () => {
    const day = partitionOf({ table: 'samples', per: 'day', retentionMs: 0 }, Date.parse('2026-12-01T23:59:59Z'));
    const month = partitionOf({ table: 'rollup_1h', per: 'month', retentionMs: 0 }, Date.parse('2026-12-31T10:00:00Z'));

    expect(day).toEqual({ name: 'samples_d20261201', from: Date.parse('2026-12-01T00:00:00Z'), to: Date.parse('2026-12-02T00:00:00Z') });
    expect(month).toEqual({ name: 'rollup_1h_m202612', from: Date.parse('2026-12-01T00:00:00Z'), to: Date.parse('2027-01-01T00:00:00Z') });
    expect(partitionEnd(day.name)).toBe(day.to);
    expect(partitionEnd(month.name)).toBe(month.to);
    expect(partitionEnd('samples')).toBeUndefined();
  });
});
