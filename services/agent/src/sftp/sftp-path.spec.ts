import { sftpPathParts, sftpPathText } from './sftp-path';

describe('sftpPathParts', () => {
  it('reads absolute and relative paths from the root', () => {
    expect(sftpPathParts('/a/b')).toEqual(['a', 'b']);
    expect(sftpPathParts('a/./b/')).toEqual(['a', 'b']);
    expect(sftpPathParts('.')).toEqual([]);
  });

  it('stops `..` at the root, as a chroot does', () => {
    expect(sftpPathParts('/..')).toEqual([]);
    expect(sftpPathParts('/../../etc/passwd')).toEqual(['etc', 'passwd']);
    expect(sftpPathParts('a/../../b')).toEqual(['b']);
  });

  it('refuses NUL bytes', () => {
    expect(() => sftpPathParts('a\0b')).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
  });

  it('prints components as an absolute path', () => {
    expect(sftpPathText([])).toBe('/');
    expect(sftpPathText(['a', 'b'])).toBe('/a/b');
  });
});
