import { parseClientPath } from '../files/jail-path';

/**
 * An SFTP client's path as components under the server's directory, the way a chroot sees it:
 * relative to `/` (the session has no other working directory: clients make paths absolute
 * themselves), `.` dropped, and `..` taking one component off, stopping at the root (`cd ..` from
 * `/` stays at `/`). The result then goes through the file manager's parser (NUL, over-long names
 * are refused) and the jail walks it by fd as for every REST verb.
 */
export function sftpPathParts(path: string): string[] {
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return parseClientPath(parts.join('/'));
}

/** The absolute path SFTP shows for components (`/` for the root). */
export function sftpPathText(parts: readonly string[]): string {
  return '/' + parts.join('/');
}
