import { cpuTimes, machineSpec, memoryUse, networkTotals, osRelease, UsageSampler } from './machine';

describe('networkTotals', () => {
  it('sums received and sent bytes of every interface but loopback from /proc/net/dev', async () => {
    const procNetDev = [
      'Inter-|   Receive                                                |  Transmit',
      ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
      '    lo: 5000      50    0    0    0     0          0         0     5000      50    0    0    0     0       0          0',
      '  eth0: 1200      10    0    0    0     0          0         0      800       8    0    0    0     0       0          0',
      '  eth1:   34       1    0    0    0     0          0         0       16       1    0    0    0     0       0          0',
      '',
    ].join('\n');

    expect(await networkTotals(procNetDev)).toEqual({ rx: 1234, tx: 816 });
  });

  it('reads the real /proc/net/dev of this machine', async () => {
    const totals = await networkTotals();

    expect(totals.rx).toBeGreaterThanOrEqual(0);
    expect(totals.tx).toBeGreaterThanOrEqual(0);
  });
});

describe('machine figures without systeminformation (issue 14)', () => {
  it('reads the distribution from /etc/os-release, quoted or not', async () => {
    expect(await osRelease('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n')).toBe('Debian GNU/Linux 12');
    expect(await osRelease('NAME=Arch Linux\nID=arch\n')).toBe('Arch Linux');
    expect(await osRelease('ID=x\n')).toBeUndefined();
  });

  it('sums CPU time and its idle part (idle + iowait) from /proc/stat', async () => {
    expect(await cpuTimes('cpu  100 5 50 800 20 3 2 0 0 0\ncpu0 50 2 25 400 10 1 1 0 0 0\n')).toEqual({ total: 980, idle: 820 });
    expect(await cpuTimes('intr 1 2 3\n')).toBeUndefined();
  });

  it('counts used memory as total minus MemAvailable', async () => {
    expect(await memoryUse('MemTotal:       16000 kB\nMemFree:         1000 kB\nMemAvailable:    6000 kB\n')).toEqual({ used: 10_000 * 1024, total: 16_000 * 1024 });
  });

  it('reports this machine\'s spec and a usage sample with the CPU share since the previous one', async () => {
    const spec = await machineSpec(['process'], [], []);
    expect(spec.cpu.cores).toBeGreaterThan(0);
    expect(spec.memory_bytes).toBeGreaterThan(0);
    expect(spec.disk_bytes).toBeGreaterThan(0);
    expect(spec.os.length).toBeGreaterThan(0);
    const sampler = new UsageSampler();
    await sampler.sample('n', []);
    const sample = await sampler.sample('n', []);
    expect(sample.cpu_percent).toBeGreaterThanOrEqual(0);
    expect(sample.cpu_percent).toBeLessThanOrEqual(100);
    expect(sample.memory_used).toBeGreaterThan(0);
    expect(sample.memory_used).toBeLessThanOrEqual(sample.memory_total);
  });
});
