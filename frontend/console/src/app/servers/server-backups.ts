import { ChangeDetectionStrategy, Component, computed, effect, inject, input, signal, untracked } from '@angular/core';
import { MatButtonModule } from '@angular/material/button';
import { MatDialog } from '@angular/material/dialog';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { MatSnackBar } from '@angular/material/snack-bar';
import { MatTooltipModule } from '@angular/material/tooltip';
import { ApiError } from '../core/api-error';
import { Realtime } from '../core/realtime';
import { confirmAction } from '../shared/confirm';
import { BytesPipe } from '../shared/format';
import { Icon } from '../shared/icon';
import { Notice } from '../shared/notice';
import { ServerAccess } from './server-access';
import { BackupView, ServerBackupsApi, isBusy, statusText } from './server-backups-api';
import { Server } from './servers-api';

/** The Backups tab of a server (issue 11): list, take, restore (confirmed), download, delete; rows follow `server.backup` pushes. */
@Component({
  selector: 'adm-server-backups',
  imports: [MatButtonModule, MatProgressBarModule, MatTooltipModule, BytesPipe, Icon, Notice],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <div class="toolbar">
      @if (canCreate()) {
        <button mat-flat-button (click)="create()" [disabled]="creating()" data-testid="server-backups-create"><adm-icon name="add" /> Back up now</button>
      }
      <button mat-icon-button (click)="load()" aria-label="Refresh" matTooltip="Refresh" data-testid="server-backups-refresh"><adm-icon name="refresh" /></button>
    </div>
    @if (loading()) { <mat-progress-bar mode="indeterminate" /> }
    @if (error()) { <adm-notice [error]="error()" (retry)="load()" /> }
    <table class="backups" data-testid="server-backups-table">
      <thead><tr><th>Name</th><th>Status</th><th>Size</th><th>New bytes</th><th>Created</th><th></th></tr></thead>
      <tbody>
        @for (b of backups(); track b.id) {
          <tr [attr.data-testid]="'server-backup-' + b.id">
            <td>{{ b.name }}</td>
            <td [class.failed]="b.status === 'failed'">
              {{ status(b) }}
              @if (b.status === 'running') { <span class="progress">{{ b.progress_bytes ?? 0 | bytes }}</span> }
            </td>
            <td>{{ b.size | bytes }}</td>
            <td>{{ b.new_bytes | bytes }}</td>
            <td>{{ b.created_at }}</td>
            <td class="actions">
              @if (b.status === 'completed') {
                @if (canRestore()) {
                  <button mat-stroked-button (click)="restore(b)" [disabled]="busy(b)" data-testid="server-backup-restore">Restore</button>
                }
                @if (canRead()) {
                  <button mat-stroked-button (click)="download(b)" data-testid="server-backup-download">Download</button>
                }
              }
              @if (canDelete()) {
                <button mat-icon-button class="danger" (click)="remove(b)" [disabled]="busy(b)" aria-label="Delete" matTooltip="Delete" data-testid="server-backup-delete"><adm-icon name="delete" /></button>
              }
            </td>
          </tr>
        } @empty {
          <tr><td colspan="6">No backups yet.</td></tr>
        }
      </tbody>
    </table>
  `,
  styles: `
    .toolbar { display: flex; gap: 8px; align-items: center; margin-bottom: 8px; }
    .backups { width: 100%; border-collapse: collapse; }
    .backups th, .backups td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--mat-sys-outline-variant, #ddd); }
    .actions { display: flex; gap: 4px; justify-content: flex-end; }
    .failed { color: var(--mat-sys-error, #b00020); }
    .progress { margin-left: 6px; opacity: 0.7; }
  `,
})
export class ServerBackups {
  private readonly api = inject(ServerBackupsApi);
  private readonly access = inject(ServerAccess);
  private readonly realtime = inject(Realtime);
  private readonly dialog = inject(MatDialog);
  private readonly snack = inject(MatSnackBar);
  readonly server = input.required<Server>();

  protected readonly backups = signal<BackupView[]>([]);
  protected readonly loading = signal(false);
  protected readonly creating = signal(false);
  protected readonly error = signal<ApiError | null>(null);
  protected readonly canRead = computed(() => this.access.may(this.server(), 'backups.read'));
  protected readonly canCreate = computed(() => this.access.may(this.server(), 'backups.create'));
  protected readonly canRestore = computed(() => this.access.may(this.server(), 'backups.restore'));
  protected readonly canDelete = computed(() => this.access.may(this.server(), 'backups.delete'));
  protected readonly status = statusText;
  protected readonly busy = isBusy;

  constructor() {
    effect((onCleanup) => {
      const id = this.server().id;
      untracked(() => void this.load());
      // The server page has joined room server:<id>; every backup event of this server reloads the list.
      const off = this.realtime.on<{ serverId: string }>('server.backup', (m) => {
        if (m.serverId === id) void this.load();
      });
      onCleanup(off);
    });
  }

  async load(): Promise<void> {
    this.loading.set(true);
    try {
      this.backups.set((await this.api.list(this.server().id)).items);
      this.error.set(null);
    } catch (e) {
      this.error.set(e as ApiError);
    } finally {
      this.loading.set(false);
    }
  }

  protected async create(): Promise<void> {
    this.creating.set(true);
    try {
      await this.api.create(this.server().id);
      await this.load();
    } catch (e) {
      this.error.set(e as ApiError);
    } finally {
      this.creating.set(false);
    }
  }

  protected async restore(b: BackupView): Promise<void> {
    const ok = await confirmAction(this.dialog, {
      title: `Restore ${b.name}?`,
      message: "The server's files are replaced by those of the backup: files made since are removed. The server must be stopped.",
      action: 'Restore',
    });
    if (!ok) return;
    try {
      await this.api.restore(this.server().id, b.id);
      await this.load();
    } catch (e) {
      this.error.set(e as ApiError);
    }
  }

  protected async remove(b: BackupView): Promise<void> {
    if (!(await confirmAction(this.dialog, { title: `Delete ${b.name}?`, message: 'The backup cannot be restored afterwards.', action: 'Delete' }))) return;
    try {
      await this.api.remove(this.server().id, b.id);
      await this.load();
    } catch (e) {
      this.error.set(e as ApiError);
    }
  }

  protected async download(b: BackupView): Promise<void> {
    try {
      const blob = await this.api.download(this.server().id, b.id);
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = `${b.name.replace(/[^A-Za-z0-9._-]+/g, '-') || 'backup'}.tar.gz`;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (e) {
      this.snack.open((e as ApiError).message, 'Close', { duration: 5000 });
    }
  }
}
