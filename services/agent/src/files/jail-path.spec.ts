import { archiveEntryPath, copyName, modeText, parseClientPath, parseEntryPath, parseMode, PathRefusedError, resolveLinkTarget } from './jail-path';

const refusal = (act: () => unknown) => {
  try {
    act();
  } catch (error) {
    return error instanceof PathRefusedError ? { code: error.code, reason: (error.details as { reason: string }).reason } : error;
  }
  return 'not refused';
};

describe('parseClientPath', () => {
  it('splits a path under the root; a leading / is the root, . and empty parts are dropped', () => {
    expect(parseClientPath('/')).toEqual([]);
    expect(parseClientPath('')).toEqual([]);
    expect(parseClientPath('/plugins/./a.jar')).toEqual(['plugins', 'a.jar']);
    expect(parseClientPath('logs//latest.log/')).toEqual(['logs', 'latest.log']);
  });

  it('refuses .. anywhere, even when it would stay inside', () => {
    expect(refusal(() => parseClientPath('../etc/passwd'))).toEqual({ code: 'BAD_REQUEST', reason: 'traversal' });
    expect(refusal(() => parseClientPath('/a/../b'))).toEqual({ code: 'BAD_REQUEST', reason: 'traversal' });
    expect(refusal(() => parseClientPath('a/..'))).toEqual({ code: 'BAD_REQUEST', reason: 'traversal' });
  });

  it('refuses NUL bytes and over-long names or paths', () => {
    expect(refusal(() => parseClientPath('a\0/../../etc'))).toEqual({ code: 'BAD_REQUEST', reason: 'nul' });
    expect(refusal(() => parseClientPath('x'.repeat(256)))).toEqual({ code: 'BAD_REQUEST', reason: 'too_long' });
    expect(refusal(() => parseClientPath('a/'.repeat(3000)))).toEqual({ code: 'BAD_REQUEST', reason: 'too_long' });
  });

  it('keeps names that only look like traversal', () => {
    expect(parseClientPath('...')).toEqual(['...']);
    expect(parseClientPath('..a/b..')).toEqual(['..a', 'b..']);
  });
});

describe('parseEntryPath', () => {
  it('refuses the root as a target', () => {
    expect(refusal(() => parseEntryPath('/'))).toEqual({ code: 'BAD_REQUEST', reason: 'root' });
    expect(refusal(() => parseEntryPath('/./'))).toEqual({ code: 'BAD_REQUEST', reason: 'root' });
  });
});

describe('resolveLinkTarget', () => {
  const root = '/srv/volumes/s1';

  it('resolves relative targets against the link directory', () => {
    expect(resolveLinkTarget(['logs'], 'latest-1.log', root)).toEqual(['logs', 'latest-1.log']);
    expect(resolveLinkTarget(['a', 'b'], '../c', root)).toEqual(['a', 'c']);
    expect(resolveLinkTarget(['a'], '..', root)).toEqual([]);
  });

  it('refuses relative targets that climb above the root', () => {
    expect(resolveLinkTarget([], '..', root)).toBeNull();
    expect(resolveLinkTarget(['a'], '../../etc', root)).toBeNull();
    expect(resolveLinkTarget(['a'], 'b/../../../x', root)).toBeNull();
  });

  it('accepts absolute targets only under the root real path', () => {
    expect(resolveLinkTarget(['a'], '/srv/volumes/s1/data/x', root)).toEqual(['data', 'x']);
    expect(resolveLinkTarget(['a'], '/srv/volumes/s1', root)).toEqual([]);
    expect(resolveLinkTarget(['a'], '/etc/passwd', root)).toBeNull();
    expect(resolveLinkTarget(['a'], '/srv/volumes/s10/x', root)).toBeNull();
    expect(resolveLinkTarget(['a'], '/srv/volumes/s1/../s2/x', root)).toBeNull();
    expect(resolveLinkTarget([], '/', root)).toBeNull();
  });

  it('refuses a target with NUL', () => {
    expect(resolveLinkTarget([], 'a\0b', root)).toBeNull();
  });
});

describe('archiveEntryPath', () => {
  it('accepts relative names', () => {
    expect(archiveEntryPath('world/region/r.0.0.mca')).toEqual(['world', 'region', 'r.0.0.mca']);
    expect(archiveEntryPath('./dir/')).toEqual(['dir']);
  });

  it('refuses absolute names, .. components and NUL', () => {
    expect(archiveEntryPath('/etc/cron.d/x')).toBeNull();
    expect(archiveEntryPath('../../x')).toBeNull();
    expect(archiveEntryPath('a/../../x')).toBeNull();
    expect(archiveEntryPath('a\0b')).toBeNull();
    expect(archiveEntryPath('..\\..\\x')).toBeNull();
  });
});

describe('parseMode / modeText / copyName', () => {
  it('takes octal text or a number of permission bits only', () => {
    expect(parseMode('755')).toBe(0o755);
    expect(parseMode('0644')).toBe(0o644);
    expect(parseMode(0o600)).toBe(0o600);
    expect(() => parseMode('4755')).toThrow();
    expect(() => parseMode(0o4755)).toThrow();
    expect(() => parseMode('999')).toThrow();
  });

  it('prints modes as four octal digits', () => {
    expect(modeText(0o100644)).toBe('0644');
    expect(modeText(0o40755)).toBe('0755');
  });

  it('names copies like a file manager', () => {
    expect(copyName('a.txt', 1)).toBe('a copy.txt');
    expect(copyName('a.txt', 2)).toBe('a copy 2.txt');
    expect(copyName('.env', 1)).toBe('.env copy');
    expect(copyName('Makefile', 3)).toBe('Makefile copy 3');
  });
});
