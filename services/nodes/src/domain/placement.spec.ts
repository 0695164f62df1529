import { assertCapacity, placeJob, placeServer, type NodeCapacity } from './placement';

const node = (id: string, over: Partial<NodeCapacity> = {}): NodeCapacity => ({
  id,
  name: id,
  memory_mb: 1024,
  cpu_percent: 200,
  storage_mb: 1000,
  draining: false,
  online: true,
  drivers: ['process'],
  allocated: { memory_mb: 0, cpu_percent: 0, disk_mb: 0 },
  ...over,
});
const limits = { memory_mb: 256, cpu_percent: 50, disk_mb: 100 };

describe('placeServer', () => {
  it('picks the online node with most free memory where everything fits', () => {
    const nodes = [node('a', { allocated: { memory_mb: 512, cpu_percent: 0, disk_mb: 0 } }), node('b'), node('c', { memory_mb: 4096, cpu_percent: 10 })];

    expect(placeServer(nodes, limits, 'process')).toBe('b');
  });

  it('skips offline and draining nodes and nodes without the driver', () => {
    const nodes = [node('a', { online: false, memory_mb: 9999 }), node('b', { draining: true, memory_mb: 9999 }), node('c', { drivers: ['docker'], memory_mb: 9999 }), node('d')];

    expect(placeServer(nodes, limits, 'process')).toBe('d');
  });

  it('assumes any driver on a node that has not reported its spec yet', () => {
    expect(placeServer([node('a', { drivers: null })], limits, 'docker')).toBe('a');
  });

  it('answers 503 when no node can run the driver and 409 when none has room', () => {
    expect(() => placeServer([node('a', { online: false })], limits, 'process')).toThrow(expect.objectContaining({ code: 'SERVICE_UNAVAILABLE' }));
    expect(() => placeServer([node('a')], { ...limits, memory_mb: 2048 }, 'process')).toThrow(expect.objectContaining({ code: 'INSUFFICIENT_CAPACITY', details: expect.objectContaining({ best_free_memory_mb: 1024 }) }));
  });
});

describe('assertCapacity', () => {
  it('names the resource that does not fit, with the numbers', () => {
    expect(() => assertCapacity(node('a', { allocated: { memory_mb: 0, cpu_percent: 180, disk_mb: 0 } }), limits)).toThrow(
      expect.objectContaining({ code: 'INSUFFICIENT_CAPACITY', details: expect.objectContaining({ free_cpu_percent: 20, requested_cpu_percent: 50 }) }),
    );
    expect(() => assertCapacity(node('a', { allocated: { memory_mb: 0, cpu_percent: 0, disk_mb: 950 } }), limits)).toThrow(expect.objectContaining({ details: expect.objectContaining({ free_disk_mb: 50 }) }));
  });

  it('does not check disk on a node that declared none', () => {
    expect(() => assertCapacity(node('a', { storage_mb: 0 }), { ...limits, disk_mb: 99_999 })).not.toThrow();
  });
});

describe('placeJob', () => {
  it('chooses among online nodes offering the runtime', () => {
    const nodes = [
      { id: 'a', online: true, draining: false, runtimes: ['node'] },
      { id: 'b', online: false, draining: false, runtimes: null },
      { id: 'c', online: true, draining: false, runtimes: null },
    ];

    expect(placeJob(nodes, 'python3', () => 0)).toBe('c');
    expect(() => placeJob(nodes.slice(0, 2), 'python3', () => 0)).toThrow(expect.objectContaining({ code: 'SERVICE_UNAVAILABLE' }));
  });
});
