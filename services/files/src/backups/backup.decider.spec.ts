import { BackupLimitError, ConflictError, NotFoundError, type CloudEvent, type NewEvent } from '@encedeus/contracts';
import { backupDecider, evolveBackup, initialBackup, type BackupCommand, type BackupState } from './backup.decider';

const T0 = '2026-01-01T00:00:00.000Z';
const at = (s: number) => new Date(Date.parse(T0) + s * 1000).toISOString();
const hash = (n: number) => n.toString(16).padStart(64, '0');
const fold = (state: BackupState, events: readonly NewEvent[], time = T0) => events.reduce((s, e) => evolveBackup(s, { ...e, time } as CloudEvent), state);
const decide = (state: BackupState, cmd: BackupCommand) => backupDecider.decide(cmd, state, { version: 0, sequence: 0 } as never);
const run = (state: BackupState, cmd: BackupCommand, time = T0) => fold(state, decide(state, cmd), time);
const request: BackupCommand = { type: 'request', serverId: '00000000-0000-4000-8000-000000000001', nodeId: 'n1', ownerId: 'u1', name: 'b', existing: 0, limit: 2 };
const complete: BackupCommand = { type: 'complete', size: 10, newBytes: 10, filesCount: 1, manifest: [{ hash: hash(1), size: 100 }] };

describe('backup decider', () => {
  it('goes requested → started → completed, once each', () => {
    const requested = run(initialBackup(), request);
    expect(decide(requested, request)).toEqual([]);

    const started = run(requested, { type: 'start' });
    const again = decide(started, { type: 'start' });
    const done = run(started, complete);

    expect(requested.status).toBe('pending');
    expect(again).toEqual([]);
    expect(done).toMatchObject({ status: 'completed', size: 10, newBytes: 10, filesCount: 1 });
    expect(decide(done, complete)).toEqual([]);
  });

  it('refuses a backup past the server limit', () => {
    const act = () => decide(initialBackup(), { ...request, existing: 2 });

    expect(act).toThrow(BackupLimitError);
  });

  it('records progress at most every few seconds, and fails a running backup once', () => {
    const running = run(run(initialBackup(), request), { type: 'start' });

    const soon = decide(running, { type: 'progress', bytes: 1, files: 1, newBytes: 0, now: at(1), everyMs: 5000 });
    const later = decide(running, { type: 'progress', bytes: 1, files: 1, newBytes: 0, now: at(6), everyMs: 5000 });
    const failed = run(running, { type: 'fail', reason: 'stalled' });

    expect(soon).toEqual([]);
    expect(later.map((e) => e.type)).toEqual(['backup.progressed']);
    expect(failed).toMatchObject({ status: 'failed', reason: 'stalled' });
    expect(decide(failed, { type: 'fail', reason: 'again' })).toEqual([]);
    expect(() => decide(failed, complete)).toThrow(ConflictError);
  });

  it('restores only a completed backup, one restore at a time, and refuses to delete while restoring', () => {
    const running = run(run(initialBackup(), request), { type: 'start' });
    expect(() => decide(running, { type: 'request_restore', restoreId: 'r1', nodeId: 'n1', path: null })).toThrow(ConflictError);
    const done = run(running, complete);

    const restoring = run(done, { type: 'request_restore', restoreId: 'r1', nodeId: 'n1', path: 'world' });
    const second = () => decide(restoring, { type: 'request_restore', restoreId: 'r2', nodeId: 'n1', path: null });
    const deleting = () => decide(restoring, { type: 'delete' });
    const restored = run(run(restoring, { type: 'start_restore', restoreId: 'r1' }), { type: 'complete_restore', restoreId: 'r1', bytes: 1, files: 1 });

    expect(restoring.restore).toMatchObject({ id: 'r1', status: 'pending', path: 'world' });
    expect(second).toThrow(ConflictError);
    expect(deleting).toThrow(ConflictError);
    expect(restored.restore?.status).toBe('completed');
    expect(decide(restored, { type: 'start_restore', restoreId: 'r1' })).toEqual([]);
    expect(run(restored, { type: 'delete' }).status).toBe('deleted');
  });

  it('ignores a late restore call of another restore, and a deleted backup is gone', () => {
    const done = run(run(run(initialBackup(), request), { type: 'start' }), complete);
    const restoring = run(run(done, { type: 'request_restore', restoreId: 'r1', nodeId: 'n1', path: null }), { type: 'start_restore', restoreId: 'r1' });

    const stale = decide(restoring, { type: 'fail_restore', restoreId: 'r0', reason: 'x' });
    const deleted = run(run(restoring, { type: 'fail_restore', restoreId: 'r1', reason: 'x' }), { type: 'delete' });

    expect(stale).toEqual([]);
    expect(() => decide(deleted, { type: 'delete' })).toThrow(NotFoundError);
  });
});
