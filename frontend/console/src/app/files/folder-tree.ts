import { ChangeDetectionStrategy, Component, computed, effect, inject, input, output, signal, untracked } from '@angular/core';
import { joinPath, pathCrumbs } from '../shared/file-names';
import { FilesApi } from './files-api';

/** One row of the tree as drawn: a folder at a depth, open or closed. */
export interface TreeRow {
  path: string;
  name: string;
  depth: number;
  open: boolean;
  loaded: boolean;
}

/**
 * The rows of a folder tree: the root, then every open folder's children (folders only, in the
 * order given) below it. `children` holds what was loaded per path; `open` the expanded paths. Pure.
 */
export function treeRows(children: ReadonlyMap<string, readonly string[]>, open: ReadonlySet<string>): TreeRow[] {
  const rows: TreeRow[] = [];
  const walk = (path: string, name: string, depth: number) => {
    const isOpen = open.has(path);
    rows.push({ path, name, depth, open: isOpen, loaded: children.has(path) });
    if (!isOpen) return;
    for (const child of children.get(path) ?? []) walk(joinPath(path, child), child, depth + 1);
  };
  walk('/', 'Home', 0);
  return rows;
}

/** Every folder from the root down to `path`, the root first: `/a/b` → `/`, `/a`, `/a/b`. Pure. */
export function ancestors(path: string): string[] {
  return pathCrumbs(path, '').map((c) => c.path);
}

/**
 * The caller's folders as a tree beside the list: folders load when opened; the folder being
 * shown is highlighted and opened, with its ancestors. `changed` reloads the open folders (after an
 * upload, a move or a delete).
 */
@Component({
  selector: 'adm-folder-tree',
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <ul class="tree" role="tree" aria-label="Folders" data-testid="files-tree">
      @for (row of rows(); track row.path) {
        <li role="treeitem" [attr.aria-expanded]="row.open" [attr.aria-selected]="row.path === current()" [style.padding-left.px]="row.depth * 14">
          <button type="button" class="twisty" (click)="toggle(row)" [attr.aria-label]="(row.open ? 'Close ' : 'Open ') + row.name">{{ row.open ? '▾' : '▸' }}</button>
          <a href="" (click)="$event.preventDefault(); selected.emit(row.path)" [class.current]="row.path === current()" [attr.data-testid]="'files-tree-' + row.path">{{ row.name }}</a>
        </li>
      }
    </ul>
  `,
  styles: `
    .tree { list-style: none; margin: 0; padding: 0; font-size: 13px; }
    li { display: flex; align-items: center; gap: 2px; white-space: nowrap; }
    .twisty { border: 0; background: none; width: 18px; padding: 0; cursor: pointer; color: inherit; opacity: .7; }
    a { color: inherit; text-decoration: none; padding: 2px 6px; border-radius: 4px; overflow: hidden; text-overflow: ellipsis; }
    a:hover { background: var(--mat-sys-surface-container-high); }
    a.current { background: var(--mat-sys-secondary-container); font-weight: 500; }
  `,
})
export class FolderTree {
  private readonly api = inject(FilesApi);
  /** The folder the list shows. */
  readonly current = input.required<string>();
  /** Bumped by the page after anything that may add, move or remove folders. */
  readonly changed = input(0);
  readonly selected = output<string>();

  private readonly children = signal<ReadonlyMap<string, readonly string[]>>(new Map());
  private readonly open = signal<ReadonlySet<string>>(new Set(['/']));
  protected readonly rows = computed(() => treeRows(this.children(), this.open()));

  constructor() {
    // The shown folder and its ancestors are opened (and loaded); a change reloads every open folder.
    effect(() => {
      const wanted = ancestors(this.current());
      this.changed();
      untracked(() => {
        const open = new Set([...this.open(), ...wanted]);
        this.open.set(open);
        for (const path of open) void this.load(path);
      });
    });
  }

  protected toggle(row: TreeRow): void {
    const open = new Set(this.open());
    if (open.has(row.path)) open.delete(row.path);
    else {
      open.add(row.path);
      if (!row.loaded) void this.load(row.path);
    }
    this.open.set(open);
  }

  private async load(path: string): Promise<void> {
    try {
      const names = (await this.api.ls(path)).filter((e) => e.type === 'folder').map((e) => e.name);
      this.children.update((map) => new Map(map).set(path, names));
    } catch {
      // A folder that went away: forget it; the list shows the error of the folder it shows.
      this.children.update((map) => {
        const next = new Map(map);
        next.delete(path);
        return next;
      });
    }
  }
}
