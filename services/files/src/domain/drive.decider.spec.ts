import { normalizeVfsPath, type CloudEvent, type NewEvent } from '@encedeus/contracts';
import { driveDecider, evolveDrive, initialDrive, type DriveCommand, type DriveState } from './drive.decider';

const hash = (n: number) => n.toString(16).padStart(64, '0');
const fold = (state: DriveState, events: readonly NewEvent[]) => events.reduce((s, e) => evolveDrive(s, { ...e, time: '2026-01-01T00:00:00.000Z' } as CloudEvent), state);
const run = (state: DriveState, cmd: DriveCommand) => fold(state, driveDecider.decide(cmd, state, { version: 0, sequence: 0 } as never));
const upload = (path: string | null, size: number, fileId = '00000000-0000-4000-8000-00000000000' + String(size % 10)): DriveCommand => ({
  type: 'commit_upload',
  path,
  fileId,
  name: 'f',
  size,
  sha256: hash(1),
  chunks: size ? [{ hash: hash(size), size }] : [],
  defaultQuota: 100,
  reservedByOthers: 0,
});

describe('drive decider', () => {
  it('creates missing parents on upload and move, counts bytes, frees them on a recursive delete', () => {
    let s = run(initialDrive(), upload('/a/b/c.txt', 10));
    expect(Object.keys(s.folders).sort()).toEqual(['/a', '/a/b']);
    expect(s.usedBytes).toBe(10);
    s = run(s, { type: 'move', oldPath: '/a', newPath: '/x/y/a' });
    expect(Object.keys(s.files)).toEqual(['/x/y/a/b/c.txt']);
    expect(Object.keys(s.folders).sort()).toEqual(['/x', '/x/y', '/x/y/a', '/x/y/a/b']);
    s = run(s, { type: 'delete', path: '/x/y' });
    expect(s.files).toEqual({});
    expect(Object.keys(s.folders)).toEqual(['/x']);
    expect(s.usedBytes).toBe(0);
  });

  it('refuses over quota, counting only the difference when replacing', () => {
    const s = run(initialDrive(), upload('/f', 60));
    expect(() => run(s, upload('/g', 41))).toThrow(expect.objectContaining({ code: 'QUOTA_EXCEEDED' }));
    expect(() => run(s, { ...upload('/g', 30), reservedByOthers: 11 } as DriveCommand)).toThrow(expect.objectContaining({ code: 'QUOTA_EXCEEDED' }));
    expect(run(s, upload('/f', 100)).usedBytes).toBe(100);
  });

  it('refuses moving into itself, onto an existing path, under a file, and the root', () => {
    const s = run(run(initialDrive(), upload('/d/f', 1)), { type: 'mkdir', path: '/e' });
    expect(() => run(s, { type: 'move', oldPath: '/d', newPath: '/d/sub' })).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
    expect(() => run(s, { type: 'move', oldPath: '/d', newPath: '/e' })).toThrow(expect.objectContaining({ code: 'CONFLICT' }));
    expect(() => run(s, { type: 'move', oldPath: '/e', newPath: '/d/f/e' })).toThrow(expect.objectContaining({ code: 'CONFLICT' }));
    expect(() => run(s, { type: 'delete', path: '/' })).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
    expect(() => run(s, { type: 'delete', path: '/nope' })).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
  });

  it('refuses chunk lists that do not add up to the size', () => {
    expect(() => run(initialDrive(), { ...upload('/f', 5), size: 6 } as DriveCommand)).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
  });
});

describe('normalizeVfsPath', () => {
  it.each(['..', '/a/..', '/./a', '//', '/a//b', '/a/', 'a', '/a\0', '/a\\b', `/${'x'.repeat(256)}`, `/${'ab/'.repeat(1400)}c`])('refuses %#', (p) => {
    expect(() => normalizeVfsPath(p)).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
  });
  it('keeps good paths', () => {
    expect(normalizeVfsPath('/')).toBe('/');
    expect(normalizeVfsPath(`/${'x'.repeat(255)}/ü .txt`)).toBe(`/${'x'.repeat(255)}/ü .txt`);
  });
});
