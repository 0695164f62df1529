import { DatePipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, computed, effect, inject, input, signal, untracked } from '@angular/core';
import { MatButtonModule } from '@angular/material/button';
import { MatCheckboxModule } from '@angular/material/checkbox';
import { MatDialog } from '@angular/material/dialog';
import { MatMenuModule } from '@angular/material/menu';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { MatSnackBar } from '@angular/material/snack-bar';
import { MatTooltipModule } from '@angular/material/tooltip';
import type { ServerOwnership } from '@encedeus/contracts/access';
import { ApiError, toApiError } from '../core/api-error';
import { confirmAction } from '../shared/confirm';
import { saveBlob } from '../shared/download';
import { BytesPipe } from '../shared/format';
import { Icon } from '../shared/icon';
import { Notice } from '../shared/notice';
import { CodeEditor } from './code-editor';
import { joinPath, nameProblem, pathCrumbs } from '../shared/file-names';
import { promptFor } from '../shared/prompt-dialog';
import { ServerAccess } from './server-access';
import { ServerFileEntry, ServerFilesApi, fileErrorMessage, isArchive, isOctalMode, sortEntries } from './server-files-api';
import { languageOf } from './syntax-highlight';

/** The file open in the editor; `created` until its first save (it does not exist on the server yet). */
interface OpenFile {
  path: string;
  name: string;
  original: string;
  created: boolean;
}

/** Breadcrumbs of a server path: `/a/b` → `/`, `/a`, `/a/b`. */
export const fileCrumbs = (path: string) => pathCrumbs(path, 'Server root');

// Material Design icon paths (Apache-2.0), inline like files/file-browser.ts.
const ICONS = {
  directory: 'M10 4H4c-1.1 0-2 .9-2 2v12c0 1.1.9 2 2 2h16c1.1 0 2-.9 2-2V8c0-1.1-.9-2-2-2h-8l-2-2z',
  file: 'M14 2H6c-1.1 0-2 .9-2 2v16c0 1.1.9 2 2 2h12c1.1 0 2-.9 2-2V8l-6-6zm-1 7V3.5L18.5 9H13z',
  symlink: 'M3.9 12c0-1.71 1.39-3.1 3.1-3.1h4V7H7c-2.76 0-5 2.24-5 5s2.24 5 5 5h4v-1.9H7c-1.71 0-3.1-1.39-3.1-3.1zM8 13h8v-2H8v2zm9-6h-4v1.9h4c1.71 0 3.1 1.39 3.1 3.1s-1.39 3.1-3.1 3.1h-4V17h4c2.76 0 5-2.24 5-5s-2.24-5-5-5z',
  other: 'M6 2c-1.1 0-2 .9-2 2v16c0 1.1.9 2 2 2h12c1.1 0 2-.9 2-2V8l-6-6H6z',
  more: 'M12 8c1.1 0 2-.9 2-2s-.9-2-2-2-2 .9-2 2 .9 2 2 2zm0 2c-1.1 0-2 .9-2 2s.9 2 2 2 2-.9 2-2-.9-2-2-2zm0 6c-1.1 0-2 .9-2 2s.9 2 2 2 2-.9 2-2-.9-2-2-2z',
} as const;

/**
 * A server's file manager (issue 11): breadcrumbs, the directory's entries (directories first, 200
 * at a time with "Load more" over the API's cursor), a text editor with syntax highlighting, and
 * create, rename, copy, delete, compress, extract and chmod. Write actions follow contracts'
 * canControlServer with the `files.*` actions, as the gateway does.
 */
@Component({
  selector: 'adm-server-files',
  imports: [MatButtonModule, MatCheckboxModule, MatMenuModule, MatProgressBarModule, MatTooltipModule, BytesPipe, DatePipe, Icon, Notice, CodeEditor],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    @if (opened(); as f) {
      <div class="toolbar-row editor-head">
        <button mat-icon-button (click)="closeEditor()" aria-label="Back to the folder" data-testid="server-files-editor-close"><adm-icon name="back" /></button>
        <span class="mono path" data-testid="server-files-editor-path">{{ f.path }}</span>
        @if (dirty()) {
          <span class="dirty" data-testid="server-files-editor-dirty">unsaved</span>
        }
        <span class="spacer"></span>
        <span class="hint">{{ language() }}</span>
        @if (canWrite()) {
          <button mat-flat-button (click)="save()" [disabled]="!canSave()" data-testid="server-files-save">Save</button>
        }
      </div>
      @if (busy()) {
        <mat-progress-bar mode="indeterminate" />
      }
      @if (failure(); as message) {
        <p class="form-error" role="alert" data-testid="server-files-error">{{ message }}</p>
      }
      <adm-code-editor [(value)]="text" [language]="language()" [readonly]="!canWrite()" [label]="f.path" (saveRequested)="save()" />
      @if (!canWrite()) {
        <p class="hint">Read only: you lack files.write on this server.</p>
      }
    } @else {
      <div class="toolbar-row">
        <nav class="crumbs" aria-label="Folder" data-testid="server-files-crumbs">
          @for (c of crumbs(); track c.path; let last = $last) {
            <button mat-button (click)="open(c.path)" [disabled]="last">{{ c.name }}</button>
            @if (!last) {
              <span aria-hidden="true">/</span>
            }
          }
        </nav>
        <span class="spacer"></span>
        @if (canWrite()) {
          <button mat-stroked-button (click)="newFile()" data-testid="server-files-new-file"><adm-icon name="add" /> New file</button>
          <button mat-stroked-button (click)="newFolder()" data-testid="server-files-mkdir"><adm-icon name="add" /> New folder</button>
          <label class="upload-label">
            <input type="file" multiple hidden (change)="uploadFiles($event)" data-testid="server-files-upload-input" />
            <span mat-stroked-button class="mdc-button mdc-button--outlined mat-mdc-outlined-button" data-testid="server-files-upload"><adm-icon name="upload" /> Upload</span>
          </label>
        }
        <button mat-icon-button (click)="reload()" aria-label="Refresh" matTooltip="Refresh" data-testid="server-files-refresh"><adm-icon name="refresh" /></button>
      </div>
      @if (uploading(); as u) {
        <div class="upload-progress" data-testid="server-files-upload-progress">
          <span>Uploading {{ u.name }} ({{ u.index }} of {{ u.count }}) · {{ u.percent }} %</span>
          <mat-progress-bar mode="determinate" [value]="u.percent" />
        </div>
      }
      @if (selected().size > 0) {
        <div class="toolbar-row selection" data-testid="server-files-selection">
          <span>{{ selected().size }} selected</span>
          @if (canArchive()) {
            <button mat-stroked-button (click)="compress()" [disabled]="busy()" data-testid="server-files-compress">Compress to .tar.gz</button>
          }
          @if (canDelete()) {
            <button mat-stroked-button class="danger" (click)="removeSelected()" [disabled]="busy()" data-testid="server-files-delete-selected"><adm-icon name="delete" /> Delete</button>
          }
          <button mat-button (click)="selectAll(false)">Clear</button>
        </div>
      }
      @if (busy()) {
        <mat-progress-bar mode="indeterminate" />
      }
      @if (failure(); as message) {
        <p class="form-error" role="alert" data-testid="server-files-error">{{ message }}
          <button mat-button (click)="failure.set(null)">Dismiss</button></p>
      }
      @if (loadError(); as e) {
        <adm-notice [error]="e" (retry)="reload()" />
      } @else if (loaded() && entries().length === 0) {
        <adm-notice>This folder is empty.</adm-notice>
      } @else {
        <table class="list" data-testid="server-files-list">
          <thead>
            <tr>
              <th class="check"><mat-checkbox [checked]="allSelected()" [indeterminate]="someSelected()" (change)="selectAll($event.checked)" aria-label="Select all" /></th>
              <th>Name</th><th class="num">Size</th><th>Mode</th><th>Modified</th><th></th>
            </tr>
          </thead>
          <tbody>
            @for (e of entries(); track e.name) {
              <tr [attr.data-testid]="'server-file-' + e.name" [attr.data-type]="e.type" [class.picked]="selected().has(e.name)">
                <td class="check"><mat-checkbox [checked]="selected().has(e.name)" (change)="toggle(e.name, $event.checked)" [attr.aria-label]="'Select ' + e.name" /></td>
                <td>
                  <a href="" (click)="$event.preventDefault(); activate(e)" class="entry" [attr.data-testid]="'server-file-open-' + e.name">
                    <svg viewBox="0 0 24 24" aria-hidden="true"><path [attr.d]="icons[e.type]" /></svg>{{ e.name }}</a>
                </td>
                <td class="num">{{ e.type === 'directory' ? '' : (e.size | bytes) }}</td>
                <td class="mono">{{ e.mode }}</td>
                <td>{{ e.modified | date: 'short' }}</td>
                <td class="actions">
                  <button mat-icon-button [matMenuTriggerFor]="menu" [matMenuTriggerData]="{ e }" aria-label="Actions" [attr.data-testid]="'server-file-menu-' + e.name">
                    <svg viewBox="0 0 24 24" aria-hidden="true"><path [attr.d]="icons.more" /></svg>
                  </button>
                </td>
              </tr>
            }
          </tbody>
        </table>
        @if (nextCursor()) {
          <div class="more"><button mat-stroked-button (click)="loadMore()" [disabled]="busy()" data-testid="server-files-more">Load more</button></div>
        }
      }
      <mat-menu #menu="matMenu">
        <ng-template matMenuContent let-e="e">
          @if (e.type !== 'directory') {
            <button mat-menu-item (click)="edit(e)" data-testid="server-file-action-edit">{{ canWrite() ? 'Edit' : 'View' }}</button>
            <button mat-menu-item (click)="download(e)" data-testid="server-file-action-download">Download</button>
          }
          @if (canWrite()) {
            <button mat-menu-item (click)="rename(e)" data-testid="server-file-action-rename">Rename</button>
            @if (e.type === 'file') {
              <button mat-menu-item (click)="copy(e)" data-testid="server-file-action-copy">Copy</button>
            }
            <button mat-menu-item (click)="chmod(e)" data-testid="server-file-action-chmod">Permissions…</button>
          }
          @if (canArchive()) {
            <button mat-menu-item (click)="compress([e.name])" data-testid="server-file-action-compress">Compress to .tar.gz</button>
            @if (e.type === 'file' && isArchive(e.name)) {
              <button mat-menu-item (click)="extract(e)" data-testid="server-file-action-extract">Extract here</button>
            }
          }
          @if (canDelete()) {
            <button mat-menu-item class="danger" (click)="remove([e.name])" data-testid="server-file-action-delete">Delete</button>
          }
        </ng-template>
      </mat-menu>
    }
  `,
  styles: `
    .upload-label { cursor: pointer; display: inline-flex; }
    .upload-progress { margin: 8px 0; }
    .crumbs { display: flex; align-items: center; flex-wrap: wrap; gap: 2px; }
    .selection { padding: 4px 8px; border-radius: 8px; background: var(--mat-sys-secondary-container); color: var(--mat-sys-on-secondary-container); }
    .list { width: 100%; border-collapse: collapse; }
    .list th, .list td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--mat-sys-outline-variant); }
    .list .num { text-align: right; }
    .list .check { width: 40px; }
    .list .actions { text-align: right; white-space: nowrap; }
    .list tr.picked { background: var(--mat-sys-surface-container); }
    .entry { color: inherit; display: inline-flex; align-items: center; gap: 6px; text-decoration: none; }
    .entry:hover { text-decoration: underline; }
    tr[data-type='directory'] .entry { font-weight: 500; }
    svg { width: 18px; height: 18px; fill: currentColor; opacity: .75; }
    .more { display: flex; justify-content: center; padding: 12px; }
    .editor-head .path { font-size: 14px; word-break: break-all; }
    .dirty { font-size: 12px; padding: 2px 8px; border-radius: 999px; background: #fff3cd; color: #7a5b00; }
    .form-error button { margin-left: 8px; }
  `,
})
export class ServerFiles {
  private readonly api = inject(ServerFilesApi);
  private readonly access = inject(ServerAccess);
  private readonly dialog = inject(MatDialog);
  private readonly snack = inject(MatSnackBar);
  /** The server whose files are shown (its id and owner decide what the buttons allow). */
  readonly server = input.required<ServerOwnership & { id: string }>();
  private readonly serverId = computed(() => this.server().id);

  protected readonly icons = ICONS;
  protected readonly isArchive = isArchive;
  protected readonly path = signal('/');
  /** The upload in progress: which file of how many, and how much of it is sent. */
  protected readonly uploading = signal<{ name: string; index: number; count: number; percent: number } | null>(null);
  private readonly page = signal<ServerFileEntry[]>([]);
  protected readonly entries = computed(() => sortEntries(this.page()));
  protected readonly nextCursor = signal<string | null>(null);
  protected readonly loaded = signal(false);
  protected readonly loadError = signal<ApiError | null>(null);
  /** The last failed action, as one sentence (the list stays usable). */
  protected readonly failure = signal<string | null>(null);
  protected readonly busy = signal(false);
  protected readonly selected = signal<ReadonlySet<string>>(new Set());
  protected readonly opened = signal<OpenFile | null>(null);
  protected readonly text = signal('');

  protected readonly crumbs = computed(() => fileCrumbs(this.path()));
  protected readonly canWrite = computed(() => this.access.may(this.server(), 'files.write'));
  protected readonly canDelete = computed(() => this.access.may(this.server(), 'files.delete'));
  /** Compress and extract need files.archive and files.write (they write the archive or its entries). */
  protected readonly canArchive = computed(() => this.canWrite() && this.access.may(this.server(), 'files.archive'));
  protected readonly allSelected = computed(() => this.entries().length > 0 && this.selected().size === this.entries().length);
  protected readonly someSelected = computed(() => this.selected().size > 0 && !this.allSelected());
  protected readonly dirty = computed(() => {
    const f = this.opened();
    return !!f && this.text() !== f.original;
  });
  /** Something to write: edits, or a new file not on the server yet. */
  protected readonly canSave = computed(() => !this.busy() && (this.dirty() || !!this.opened()?.created));
  protected readonly language = computed(() => languageOf(this.opened()?.name ?? ''));
  /** Answers of an older directory load are dropped when the user has moved on. */
  private generation = 0;

  constructor() {
    // Keyed by the id alone: a state push replaces the server object, which must not reset the folder.
    effect(() => {
      this.serverId();
      untracked(() => this.open('/'));
    });
  }

  protected open(path: string): void {
    this.path.set(path);
    void this.reload();
  }

  /** The directory's first page again (after a change, or the refresh button). */
  protected async reload(): Promise<void> {
    const generation = ++this.generation;
    this.busy.set(true);
    try {
      const page = await this.api.list(this.serverId(), this.path(), null);
      if (generation !== this.generation) return;
      this.page.set(page.items);
      this.nextCursor.set(page.nextCursor);
      this.loadError.set(null);
      this.selected.set(new Set());
    } catch (e) {
      if (generation !== this.generation) return;
      this.page.set([]);
      this.nextCursor.set(null);
      this.loadError.set(this.explained(e));
    } finally {
      if (generation === this.generation) {
        this.loaded.set(true);
        this.busy.set(false);
      }
    }
  }

  protected async loadMore(): Promise<void> {
    const cursor = this.nextCursor();
    if (!cursor) return;
    const generation = this.generation;
    await this.run(async () => {
      const page = await this.api.list(this.serverId(), this.path(), cursor);
      if (generation !== this.generation) return;
      this.page.update((items) => [...items, ...page.items]);
      this.nextCursor.set(page.nextCursor);
    }, false);
  }

  /** A click on a name: into a directory, open a file; a link is tried as a directory, then as a file. */
  protected async activate(e: ServerFileEntry): Promise<void> {
    const target = joinPath(this.path(), e.name);
    if (e.type === 'directory') return this.open(target);
    if (e.type === 'symlink') {
      try {
        await this.api.list(this.serverId(), target, null, 1);
        return this.open(target);
      } catch {
        // Not a directory (or a link that leaves the server): open it as a file, which explains any refusal.
      }
    }
    await this.edit(e);
  }

  protected toggle(name: string, on: boolean): void {
    this.selected.update((s) => {
      const next = new Set(s);
      if (on) next.add(name);
      else next.delete(name);
      return next;
    });
  }

  protected selectAll(on: boolean): void {
    this.selected.set(on ? new Set(this.entries().map((e) => e.name)) : new Set());
  }

  protected async edit(e: ServerFileEntry): Promise<void> {
    const path = joinPath(this.path(), e.name);
    await this.run(async () => {
      const text = await this.api.contents(this.serverId(), path);
      this.text.set(text);
      this.opened.set({ path, name: e.name, original: text, created: false });
    }, false, true);
  }

  protected async newFile(): Promise<void> {
    const name = await promptFor(this.dialog, { title: 'New file', label: 'File name', action: 'Create', problem: (v) => this.freshNameProblem(v) });
    if (!name) return;
    this.failure.set(null);
    this.text.set('');
    this.opened.set({ path: joinPath(this.path(), name), name, original: '', created: true });
  }

  protected async save(): Promise<void> {
    const f = this.opened();
    if (!f || !this.canWrite() || this.busy()) return;
    const text = this.text();
    await this.run(async () => {
      await this.api.write(this.serverId(), f.path, text);
      this.opened.set({ ...f, original: text, created: false });
      this.snack.open(`Saved ${f.name}`, undefined, { duration: 2500 });
    }, false, true);
  }

  protected async closeEditor(): Promise<void> {
    if (this.dirty()) {
      const discard = await confirmAction(this.dialog, { title: 'Discard changes?', message: `${this.opened()?.path} has unsaved changes.`, action: 'Discard' });
      if (!discard) return;
    }
    this.opened.set(null);
    this.failure.set(null);
    await this.reload();
  }

  /** Uploads the chosen files into the open directory, one after another, with progress. */
  protected async uploadFiles(event: Event): Promise<void> {
    const input = event.target as HTMLInputElement;
    const files = [...(input.files ?? [])];
    input.value = '';
    const dir = this.path();
    try {
      for (const [k, file] of files.entries()) {
        this.uploading.set({ name: file.name, index: k + 1, count: files.length, percent: 0 });
        await this.api.upload(this.serverId(), dir, file, (percent) => this.uploading.update((u) => (u ? { ...u, percent } : u)));
      }
      this.snack.open(files.length === 1 ? `Uploaded ${files[0].name}` : `Uploaded ${files.length} files`, undefined, { duration: 3000 });
    } catch (e) {
      this.failure.set(this.explained(e).message);
    } finally {
      this.uploading.set(null);
      await this.reload();
    }
  }

  protected async download(e: ServerFileEntry): Promise<void> {
    try {
      saveBlob(e.name, await this.api.download(this.serverId(), joinPath(this.path(), e.name)));
    } catch (err) {
      this.failure.set(this.explained(err).message);
    }
  }

  protected async newFolder(): Promise<void> {
    const name = await promptFor(this.dialog, { title: 'New folder', label: 'Folder name', action: 'Create', problem: (v) => this.freshNameProblem(v) });
    if (name) await this.run(() => this.api.mkdir(this.serverId(), joinPath(this.path(), name)));
  }

  protected async rename(e: ServerFileEntry): Promise<void> {
    const name = await promptFor(this.dialog, {
      title: `Rename ${e.name}`,
      label: 'New name',
      value: e.name,
      action: 'Rename',
      problem: (v) => (v.trim() === e.name ? 'Type a different name' : this.freshNameProblem(v)),
    });
    if (name) await this.run(() => this.api.rename(this.serverId(), joinPath(this.path(), e.name), joinPath(this.path(), name)));
  }

  protected async copy(e: ServerFileEntry): Promise<void> {
    await this.run(async () => {
      const copy = await this.api.copy(this.serverId(), joinPath(this.path(), e.name));
      this.snack.open(`Copied to ${copy.name}`, undefined, { duration: 3000 });
    });
  }

  protected async chmod(e: ServerFileEntry): Promise<void> {
    const mode = await promptFor(this.dialog, {
      title: `Permissions of ${e.name}`,
      label: 'Mode (octal)',
      value: e.mode.replace(/^0(?=[0-7]{3}$)/, ''),
      action: 'Apply',
      hint: 'Three octal digits: owner, group, others (e.g. 644 or 755)',
      problem: (v) => (isOctalMode(v) ? null : 'Three octal digits from 000 to 777, e.g. 644'),
    });
    if (mode) await this.run(() => this.api.chmod(this.serverId(), joinPath(this.path(), e.name), mode));
  }

  protected removeSelected(): Promise<void> {
    return this.remove([...this.selected()]);
  }

  protected async remove(names: string[]): Promise<void> {
    if (names.length === 0) return;
    const directories = new Set(this.entries().filter((e) => e.type === 'directory').map((e) => e.name));
    const withContents = names.some((n) => directories.has(n)) ? ' Folders are deleted with everything in them.' : '';
    const ok = await confirmAction(this.dialog, {
      title: names.length === 1 ? `Delete ${names[0]}?` : `Delete ${names.length} items?`,
      message: `${names.length === 1 ? joinPath(this.path(), names[0]) : names.join(', ')} will be deleted.${withContents} This cannot be undone.`,
      action: 'Delete',
    });
    if (ok) await this.run(() => this.api.remove(this.serverId(), names.map((n) => joinPath(this.path(), n))));
  }

  protected async compress(names: string[] = [...this.selected()]): Promise<void> {
    if (names.length === 0) return;
    await this.run(async () => {
      const archive = await this.api.compress(this.serverId(), names.map((n) => joinPath(this.path(), n)));
      this.snack.open(`Created ${archive.name}`, undefined, { duration: 3000 });
    });
  }

  protected async extract(e: ServerFileEntry): Promise<void> {
    await this.run(async () => {
      const { entries } = await this.api.decompress(this.serverId(), joinPath(this.path(), e.name));
      this.snack.open(`Extracted ${entries} entries from ${e.name}`, undefined, { duration: 3000 });
    });
  }

  /** A name for something new in this folder: valid, and not one of the entries shown. */
  private freshNameProblem(value: string): string | null {
    const problem = nameProblem(value);
    if (problem) return problem;
    return this.page().some((e) => e.name === value.trim()) ? `${value.trim()} already exists here` : null;
  }

  /** An ApiError whose message says what the status means for files (403; 413 when `editing`; 503). */
  private explained(e: unknown, editing = false): ApiError {
    const err = toApiError(e);
    return new ApiError(fileErrorMessage(err, editing), err.code, err.status, err.fields, err.details);
  }

  /** Runs one action with the busy bar; a failure becomes the banner's sentence. `editing`: reading or saving in the editor. */
  private async run(work: () => Promise<unknown>, reload = true, editing = false): Promise<void> {
    this.busy.set(true);
    this.failure.set(null);
    try {
      await work();
      if (reload) await this.reload();
    } catch (e) {
      this.failure.set(this.explained(e, editing).message);
    } finally {
      this.busy.set(false);
    }
  }
}
