import { DatePipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, OnInit, computed, inject, signal } from '@angular/core';
import { MatButtonModule } from '@angular/material/button';
import { MatCardModule } from '@angular/material/card';
import { MatDialog } from '@angular/material/dialog';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { ApiError, toApiError } from '../core/api-error';
import { Auth } from '../core/auth';
import { confirmAction } from '../shared/confirm';
import { joinPath, nameProblem, pathCrumbs, pathProblem } from '../shared/file-names';
import { BytesPipe } from '../shared/format';
import { Icon } from '../shared/icon';
import { Notice } from '../shared/notice';
import { promptFor } from '../shared/prompt-dialog';
import { FilesApi, FsEntry, Quota, RawFile, saveBlob } from './files-api';
import { FolderTree } from './folder-tree';

interface Upload {
  name: string;
  sent: number;
  total: number;
  error?: string;
  done: boolean;
}

/**
 * The caller's files: a folder tree and breadcrumbs, the folder's entries with sizes, uploads with progress (pick or
 * drop several files), download, rename/move, delete with confirmation, the quota bar, and the raw
 * files list of seed 001.
 */
@Component({
  selector: 'adm-file-browser',
  imports: [MatCardModule, MatButtonModule, MatProgressBarModule, BytesPipe, DatePipe, Icon, Notice, FolderTree],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <header class="page-head">
      <h1>Files</h1>
      <span class="spacer"></span>
      @if (quota(); as q) {
        <div class="quota" data-testid="files-quota">
          <span>{{ q.used_bytes | bytes }} of {{ q.quota_bytes | bytes }}</span>
          <mat-progress-bar mode="determinate" [value]="quotaPercent()" [class.full]="quotaPercent() > 90" />
        </div>
      }
    </header>
    <nav class="crumbs" aria-label="Folder" data-testid="files-crumbs">
      @for (c of crumbs(); track c.path; let last = $last) {
        <button mat-button (click)="open(c.path)" [disabled]="last">{{ c.name }}</button>
        @if (!last) {
          <span aria-hidden="true">/</span>
        }
      }
    </nav>
    <div class="browse">
    <mat-card appearance="outlined" class="section tree-card">
      <mat-card-content><adm-folder-tree [current]="path()" [changed]="version()" (selected)="open($event)" /></mat-card-content>
    </mat-card>
    <mat-card appearance="outlined" class="section drop" [class.over]="dragging()" (dragover)="dragOver($event)" (dragleave)="dragging.set(false)" (drop)="drop($event)" data-testid="files-drop">
      <mat-card-content>
        <div class="toolbar-row">
          @if (canWrite) {
            <button mat-stroked-button (click)="picker.click()" data-testid="files-upload"><adm-icon name="upload" /> Upload</button>
            <input #picker type="file" multiple hidden (change)="picked(picker)" data-testid="files-input" />
            <button mat-stroked-button (click)="newFolder()" data-testid="files-mkdir"><adm-icon name="add" /> New folder</button>
          }
          <span class="spacer"></span>
          <button mat-icon-button (click)="reload()" aria-label="Refresh"><adm-icon name="refresh" /></button>
        </div>
        @for (u of uploads(); track $index) {
          <div class="upload" data-testid="files-upload-progress">
            <span class="name">{{ u.name }}</span>
            @if (u.error) {
              <span class="error">{{ u.error }}</span>
            } @else {
              <mat-progress-bar mode="determinate" [value]="u.done ? 100 : u.total ? (100 * u.sent) / u.total : 0" />
              <span>{{ u.done ? 'done' : (u.sent | bytes) + ' / ' + (u.total | bytes) }}</span>
            }
          </div>
        }
        @if (error(); as e) {
          <adm-notice [error]="e" (retry)="reload()" />
        } @else if (entries().length === 0) {
          <adm-notice>This folder is empty{{ canWrite ? ': drop files here to upload them' : '' }}.</adm-notice>
        } @else {
          <table class="list" data-testid="files-list">
            <thead><tr><th>Name</th><th class="num">Size</th><th>Modified</th><th></th></tr></thead>
            <tbody>
              @for (e of entries(); track e.name) {
                <tr [attr.data-testid]="'files-entry-' + e.name">
                  <td>
                    @if (e.type === 'folder') {
                      <a href="" (click)="$event.preventDefault(); open(here(e))" class="folder"><svg viewBox="0 0 24 24" aria-hidden="true"><path [attr.d]="folderIcon" /></svg>{{ e.name }}</a>
                    } @else {
                      <span class="file"><svg viewBox="0 0 24 24" aria-hidden="true"><path [attr.d]="fileIcon" /></svg>{{ e.name }}</span>
                    }
                  </td>
                  <td class="num">{{ e.type === 'file' ? (e.size | bytes) : '' }}</td>
                  <td>{{ e.modified | date: 'short' }}</td>
                  <td class="actions">
                    @if (e.type === 'file') {
                      <button mat-icon-button (click)="download(e)" aria-label="Download" data-testid="files-download"><adm-icon name="drain" /></button>
                    }
                    @if (canWrite) {
                      <button mat-icon-button (click)="move(e)" aria-label="Rename or move" data-testid="files-move"><adm-icon name="edit" /></button>
                      <button mat-icon-button (click)="remove(e)" aria-label="Delete" data-testid="files-delete"><adm-icon name="delete" /></button>
                    }
                  </td>
                </tr>
              }
            </tbody>
          </table>
        }
      </mat-card-content>
    </mat-card>
    </div>
    @if (raw().length > 0) {
      <mat-card appearance="outlined" class="section">
        <mat-card-header><mat-card-title>Raw files</mat-card-title></mat-card-header>
        <mat-card-content>
          <table class="list" data-testid="files-raw">
            <thead><tr><th>Name</th><th class="num">Size</th><th class="num">Chunks</th><th>Uploaded</th><th></th></tr></thead>
            <tbody>
              @for (f of raw(); track f.id) {
                <tr>
                  <td>{{ f.name }}</td>
                  <td class="num">{{ f.size | bytes }}</td>
                  <td class="num">{{ f.chunks_count }}</td>
                  <td>{{ f.created_at | date: 'short' }}</td>
                  <td class="actions"><button mat-icon-button (click)="downloadRaw(f)" aria-label="Download"><adm-icon name="drain" /></button></td>
                </tr>
              }
            </tbody>
          </table>
        </mat-card-content>
      </mat-card>
    }
  `,
  styles: `
    .quota { display: flex; flex-direction: column; gap: 4px; min-width: 220px; font-size: 13px; }
    .quota .full { --mdc-linear-progress-active-indicator-color: var(--mat-sys-error); }
    .crumbs { display: flex; align-items: center; flex-wrap: wrap; gap: 2px; margin-bottom: 8px; }
    .browse { display: grid; grid-template-columns: minmax(160px, 220px) 1fr; gap: 16px; align-items: start; }
    .browse .section { margin: 0; }
    .tree-card { overflow-x: auto; }
    @media (max-width: 720px) { .browse { grid-template-columns: 1fr; } .tree-card { display: none; } }
    .drop.over { outline: 2px dashed var(--mat-sys-primary); }
    .upload { display: grid; grid-template-columns: 1fr 2fr auto; gap: 12px; align-items: center; margin: 6px 0; font-size: 13px; }
    .upload .error { color: var(--mat-sys-error); }
    .list { width: 100%; border-collapse: collapse; }
    .list th, .list td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--mat-sys-outline-variant); }
    .list .num { text-align: right; }
    .list .actions { text-align: right; white-space: nowrap; }
    .folder { color: inherit; font-weight: 500; }
    .folder, .file { display: inline-flex; align-items: center; gap: 6px; }
    svg { width: 18px; height: 18px; fill: currentColor; opacity: .75; }
  `,
})
export class FileBrowser implements OnInit {
  private readonly api = inject(FilesApi);
  private readonly dialog = inject(MatDialog);
  protected readonly canWrite = inject(Auth).can('files.write');
  // Material Design icon paths (Apache-2.0), inline like shared/icon.ts.
  protected readonly folderIcon = 'M10 4H4c-1.1 0-2 .9-2 2v12c0 1.1.9 2 2 2h16c1.1 0 2-.9 2-2V8c0-1.1-.9-2-2-2h-8l-2-2z';
  protected readonly fileIcon = 'M14 2H6c-1.1 0-2 .9-2 2v16c0 1.1.9 2 2 2h12c1.1 0 2-.9 2-2V8l-6-6zm-1 7V3.5L18.5 9H13z';

  protected readonly path = signal('/');
  protected readonly entries = signal<FsEntry[]>([]);
  protected readonly raw = signal<RawFile[]>([]);
  protected readonly quota = signal<Quota | null>(null);
  protected readonly error = signal<ApiError | null>(null);
  protected readonly uploads = signal<Upload[]>([]);
  protected readonly dragging = signal(false);
  /** Bumped after every reload, so the folder tree reloads the folders it shows. */
  protected readonly version = signal(0);
  protected readonly crumbs = computed(() => pathCrumbs(this.path(), 'Home'));
  protected readonly quotaPercent = computed(() => {
    const q = this.quota();
    return q && q.quota_bytes > 0 ? Math.min(100, (100 * q.used_bytes) / q.quota_bytes) : 0;
  });

  ngOnInit(): void {
    void this.reload();
  }

  protected here(e: FsEntry): string {
    return joinPath(this.path(), e.name);
  }

  protected open(path: string): void {
    this.path.set(path);
    void this.reload();
  }

  protected async reload(): Promise<void> {
    try {
      const [entries, quota, raw] = await Promise.all([this.api.ls(this.path()), this.api.quota(), this.api.rawFiles().catch(() => [])]);
      this.entries.set(entries);
      this.quota.set(quota);
      this.raw.set(raw);
      this.error.set(null);
      this.version.update((v) => v + 1);
    } catch (e) {
      this.error.set(toApiError(e));
    }
  }

  protected dragOver(event: DragEvent): void {
    if (!this.canWrite) return;
    event.preventDefault();
    this.dragging.set(true);
  }

  protected drop(event: DragEvent): void {
    event.preventDefault();
    this.dragging.set(false);
    if (this.canWrite && event.dataTransfer?.files.length) this.uploadAll(Array.from(event.dataTransfer.files));
  }

  protected picked(input: HTMLInputElement): void {
    if (input.files?.length) this.uploadAll(Array.from(input.files));
    input.value = '';
  }

  /** Uploads one after the other, each with its own progress row. */
  private uploadAll(files: File[]): void {
    const dir = this.path();
    const start = this.uploads().length;
    this.uploads.update((list) => [...list, ...files.map((f) => ({ name: f.name, sent: 0, total: f.size, done: false }))]);
    const set = (i: number, patch: Partial<Upload>) => this.uploads.update((list) => list.map((u, k) => (k === start + i ? { ...u, ...patch } : u)));
    void (async () => {
      for (const [i, file] of files.entries()) {
        await new Promise<void>((resolve) => {
          this.api.upload(joinPath(dir, file.name), file).subscribe({
            next: (p) => set(i, p.done ? { done: true, sent: file.size } : { sent: p.sent, total: p.total }),
            error: (e: unknown) => {
              set(i, { error: toApiError(e).message });
              resolve();
            },
            complete: () => resolve(),
          });
        });
      }
      await this.reload();
      setTimeout(() => this.uploads.update((list) => list.filter((u) => !u.done || u.error)), 4000);
    })();
  }

  protected async newFolder(): Promise<void> {
    const name = await promptFor(this.dialog, { title: 'New folder', label: 'Folder name', action: 'Create', problem: nameProblem });
    if (!name) return;
    await this.run(() => this.api.mkdir(joinPath(this.path(), name)));
  }

  protected async move(e: FsEntry): Promise<void> {
    const from = this.here(e);
    const to = await promptFor(this.dialog, {
      title: `Rename or move ${e.name}`,
      label: 'New path',
      value: from,
      action: 'Move',
      hint: 'Missing folders on the way are created',
      problem: pathProblem,
    });
    if (!to || to === from) return;
    await this.run(() => this.api.move(from, to));
  }

  protected async remove(e: FsEntry): Promise<void> {
    const target = this.here(e);
    const ok = await confirmAction(this.dialog, {
      title: `Delete ${e.name}?`,
      message: e.type === 'folder' ? `${target} and everything in it will be deleted.` : `${target} will be deleted.`,
      action: 'Delete',
    });
    if (ok) await this.run(() => this.api.remove(target));
  }

  protected async download(e: FsEntry): Promise<void> {
    await this.run(async () => saveBlob(await this.api.download(this.here(e)), e.name), false);
  }

  protected async downloadRaw(f: RawFile): Promise<void> {
    await this.run(async () => saveBlob(await this.api.downloadRaw(f.id), f.name), false);
  }

  private async run(work: () => Promise<unknown>, reload = true): Promise<void> {
    try {
      await work();
      if (reload) await this.reload();
    } catch (e) {
      this.error.set(toApiError(e));
    }
  }
}
