import { networkTotals } from './machine';

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
