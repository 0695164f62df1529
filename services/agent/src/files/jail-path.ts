import { DomainError } from '@encedeus/contracts';

/*
 * The pure half of the server-file jail: client paths and symlink targets become component lists
 * relative to the server's directory, or are refused. No I/O here (server-jail.ts does the opening).
 */

/** Longest client path accepted (Linux PATH_MAX). */
export const MAX_PATH_LENGTH = 4096;
/** Longest single name (Linux NAME_MAX, in bytes). */
export const MAX_NAME_BYTES = 255;

/** Why a path was refused; `details.reason` of the 400. */
export type PathRefusal = 'nul' | 'traversal' | 'too_long' | 'symlink_escape' | 'root' | 'empty';

/** A refused path: 400 BAD_REQUEST with `details: { reason, path }`. */
export class PathRefusedError extends DomainError {
  constructor(reason: PathRefusal, path: string, message: string) {
    super('BAD_REQUEST', message, { reason, path });
  }
}

/**
 * Splits a client path into components under the server root. A leading `/` means the server's
 * directory (the file manager shows it as `/`), `.` and empty components are dropped; `..`, NUL and
 * names over 255 bytes are refused (never normalised away: `a/../b` is a mistake or an attack).
 */
export function parseClientPath(path: string): string[] {
  if (path.includes('\0')) throw new PathRefusedError('nul', path.replace(/\0/g, '\\0'), 'A path may not contain NUL bytes');
  if (path.length > MAX_PATH_LENGTH) throw new PathRefusedError('too_long', path.slice(0, 64), `A path may be at most ${MAX_PATH_LENGTH} characters long`);
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') throw new PathRefusedError('traversal', path, 'A path may not contain ".." components');
    if (Buffer.byteLength(part) > MAX_NAME_BYTES) throw new PathRefusedError('too_long', path.slice(0, 64), `A name may be at most ${MAX_NAME_BYTES} bytes long`);
    parts.push(part);
  }
  return parts;
}

/** Like parseClientPath, but the server root itself is refused (delete, rename, chmod of `/`). */
export function parseEntryPath(path: string): string[] {
  const parts = parseClientPath(path);
  if (parts.length === 0) throw new PathRefusedError('root', path, "The server's root directory cannot be the target");
  return parts;
}

/**
 * Where a symlink found at `dir/<name>` points, as components under the root, or null when it
 * leaves the jail. Relative targets resolve against `dir`; `..` above the root leaves it. Absolute
 * targets are host paths: they stay in only when under `rootReal` (the server directory's real path),
 * because the server's process sees the host's file system.
 */
export function resolveLinkTarget(dir: readonly string[], target: string, rootReal: string): string[] | null {
  if (target.includes('\0')) return null;
  let base: string[];
  let rest: string;
  if (target.startsWith('/')) {
    const root = rootReal.replace(/\/+$/, '');
    if (target !== root && !target.startsWith(`${root}/`)) return null;
    base = [];
    rest = target.slice(root.length);
  } else {
    base = [...dir];
    rest = target;
  }
  for (const part of rest.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (base.length === 0) return null;
      base.pop();
    } else {
      base.push(part);
    }
  }
  return base;
}

/**
 * The components of a tar entry's name under the extraction directory, or null when the entry
 * would leave it: absolute names, `..` anywhere, NUL. (Refusing `a/../b` too is stricter than
 * needed and simpler to trust.)
 */
export function archiveEntryPath(name: string): string[] | null {
  if (name.includes('\0') || name.startsWith('/') || name.includes('\\')) return null;
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') return null;
    if (Buffer.byteLength(part) > MAX_NAME_BYTES) return null;
    parts.push(part);
  }
  return parts;
}

/**
 * A file mode from the wire: an octal string (`"755"`, `"0644"`) or a number. Only permission bits
 * (0–0777): setuid, setgid and sticky are refused, the agent runs as root.
 */
export function parseMode(mode: string | number): number {
  const value = typeof mode === 'number' ? mode : /^0?[0-7]{3}$/.test(mode) ? parseInt(mode, 8) : NaN;
  if (!Number.isInteger(value) || value < 0 || value > 0o777) {
    throw new DomainError('VALIDATION_FAILED', 'mode must be permission bits between 000 and 777 (octal)', { fields: [{ path: 'mode', message: 'between 000 and 777' }] });
  }
  return value;
}

/** `0644`-style text of a mode's permission bits. */
export function modeText(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/** The name `copy` gives a file's copy: `a.txt` → `a copy.txt`, then `a copy 2.txt`, … */
export function copyName(name: string, attempt: number): string {
  const dot = name.lastIndexOf('.');
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
  return `${stem} copy${attempt > 1 ? ` ${attempt}` : ''}${ext}`;
}
