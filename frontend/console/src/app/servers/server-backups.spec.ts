import type { BackupView } from './server-backups-api';
import { isBusy, statusText } from './server-backups-api';

const backup = (over: Partial<BackupView>): BackupView => ({
  id: 'b1',
  server_id: 's1',
  name: 'nightly',
  status: 'completed',
  size: 10,
  new_bytes: 1,
  files_count: 1,
  created_at: '2026-01-01T00:00:00.000Z',
  completed_at: '2026-01-01T00:00:01.000Z',
  restore: null,
  ...over,
});

describe('server backups', () => {
  it('shows the restore in progress, a failed restore or backup with its reason, else the status', () => {
    const restoring = backup({ restore: { id: 'r', status: 'running', path: 'world', requested_at: '', completed_at: null } });
    const restoreFailed = backup({ restore: { id: 'r', status: 'failed', path: null, reason: 'stalled', requested_at: '', completed_at: '' } });

    expect(statusText(restoring)).toBe('restoring world');
    expect(statusText(restoreFailed)).toBe('restore failed: stalled');
    expect(statusText(backup({ status: 'failed', reason: 'agent gone' }))).toBe('failed: agent gone');
    expect(statusText(backup({}))).toBe('completed');
  });

  it('holds the buttons while a backup is taken or restored', () => {
    expect(isBusy(backup({ status: 'running' }))).toBe(true);
    expect(isBusy(backup({ restore: { id: 'r', status: 'pending', path: null, requested_at: '', completed_at: null } }))).toBe(true);
    expect(isBusy(backup({}))).toBe(false);
  });
});
