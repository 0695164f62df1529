import { instanceName, MAX_REPLICAS, replicaCount } from './replicas';

describe('replicaCount', () => {
  it('is 1 without --replicas or ENCEDEUS_REPLICAS', () => {
    expect(replicaCount([], {})).toBe(1);
  });

  it('reads --replicas N and --replicas=N', () => {
    expect(replicaCount(['--replicas', '3'], {})).toBe(3);
    expect(replicaCount(['--replicas=2'], {})).toBe(2);
  });

  it('reads ENCEDEUS_REPLICAS, and the flag wins over it', () => {
    expect(replicaCount([], { ENCEDEUS_REPLICAS: '2' })).toBe(2);
    expect(replicaCount(['--replicas', '4'], { ENCEDEUS_REPLICAS: '2' })).toBe(4);
  });

  it.each([['0'], ['-1'], ['1.5'], ['two'], [''], [String(MAX_REPLICAS + 1)]])('rejects --replicas %j', (value) => {
    expect(() => replicaCount(['--replicas', value], {})).toThrow(/--replicas must be a whole number from 1 to 8/);
  });

  it('rejects --replicas without a number', () => {
    expect(() => replicaCount(['--replicas'], {})).toThrow(/--replicas must be/);
  });

  it('rejects a bad ENCEDEUS_REPLICAS by name', () => {
    expect(() => replicaCount([], { ENCEDEUS_REPLICAS: 'many' })).toThrow(/ENCEDEUS_REPLICAS must be/);
  });
});

describe('instanceName', () => {
  it('keeps the bare name with one replica and numbers them from 1 with more', () => {
    expect(instanceName('nodes', 0, 1)).toBe('nodes');
    expect([0, 1].map((i) => instanceName('gateway', i, 2))).toEqual(['gateway-1', 'gateway-2']);
  });
});
