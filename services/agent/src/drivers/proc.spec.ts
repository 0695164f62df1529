import { parseProcStat } from './proc';

describe('parseProcStat', () => {
  it('reads fields after a command name holding spaces and parentheses', () => {
    const line = '4242 (my (odd) srv) S 1 4242 4242 0 -1 4194560 500 0 0 0 150 50 0 0 20 0 3 0 987654 12345678 256 18446744073709551615';

    const stat = parseProcStat(4242, line);

    expect(stat).toEqual({ pid: 4242, state: 'S', ppid: 1, pgrp: 4242, cpuTicks: 200, startTime: 987654, rssBytes: 256 * 4096 });
  });
});
