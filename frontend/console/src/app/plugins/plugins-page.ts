import { ChangeDetectionStrategy, Component, inject, signal, type OnInit } from '@angular/core';
import { FormsModule } from '@angular/forms';
import { MatButtonModule } from '@angular/material/button';
import { MatCardModule } from '@angular/material/card';
import { MatDialog } from '@angular/material/dialog';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatTabsModule } from '@angular/material/tabs';
import { toApiError, type ApiError } from '../core/api-error';
import { confirmAction } from '../shared/confirm';
import { Icon } from '../shared/icon';
import { Notice } from '../shared/notice';
import { StateChip } from '../shared/state-chip';
import { PluginInstallDialog } from './install-dialog';
import { PluginsApi, type CatalogPluginView, type DeadLetter, type InstalledPluginView, type PluginLogLine } from './plugins-api';

/**
 * Plugins (issue 13): installed plugins with state, lag, dead letters, last error and logs
 * (enable/disable/uninstall), the catalog with search, ratings and the install dialog, the Git
 * repositories behind it, and the template catalog.
 */
@Component({
  selector: 'adm-plugins-page',
  imports: [FormsModule, MatButtonModule, MatCardModule, MatFormFieldModule, MatInputModule, MatTabsModule, Icon, Notice, StateChip],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <header class="page-head"><h1>Plugins</h1></header>
    @if (error(); as e) { <adm-notice [error]="e" (retry)="reload()" /> }
    <mat-tab-group>
      <mat-tab label="Installed">
        @for (p of api.installed(); track p.id) {
          <mat-card appearance="outlined" class="section" [attr.data-testid]="'installed-' + p.name">
            <mat-card-header>
              <mat-card-title>{{ p.name }} <small>{{ p.version }}</small></mat-card-title>
              <mat-card-subtitle><adm-state-chip [state]="p.state" /> risk {{ p.risk }} · lag {{ p.lag ?? '?' }} · dead letters {{ p.dead_letters }}</mat-card-subtitle>
            </mat-card-header>
            <mat-card-content>
              @if (p.suspended_reason) { <p class="form-error" data-testid="suspended-reason">Suspended: {{ p.suspended_reason }}</p> }
              @if (p.last_error) { <p>Last error: <code>{{ p.last_error }}</code></p> }
              <p>Events <code>{{ p.events.join(', ') }}</code> · permissions <code>{{ p.permissions.join(', ') || 'log' }}</code></p>
              @if (openLogs() === p.id) {
                <pre class="mono logs" data-testid="plugin-logs">@for (l of logs(); track $index) {{{ l.at }} {{ l.level }} {{ l.message }}
}</pre>
                @for (d of deadLetters(); track d.sequence) { <p><code>#{{ d.sequence }} {{ d.event_type }}</code>: {{ d.error }}</p> }
              }
            </mat-card-content>
            <mat-card-actions>
              @if (p.state === 'enabled') {
                <button mat-button (click)="setEnabled(p, false)" data-testid="plugin-disable"><adm-icon name="stop" /> Disable</button>
              } @else {
                <button mat-button (click)="setEnabled(p, true)" data-testid="plugin-enable"><adm-icon name="play" /> Enable</button>
              }
              <button mat-button (click)="showLogs(p.id)" data-testid="plugin-logs-toggle">Logs</button>
              @for (n of stars; track n) { <button mat-button (click)="rate(p, n)" [attr.aria-label]="'Rate ' + n">{{ n }}★</button> }
              <button mat-button class="danger" (click)="uninstall(p)" data-testid="plugin-uninstall"><adm-icon name="delete" /> Uninstall</button>
            </mat-card-actions>
          </mat-card>
        } @empty { <adm-notice>No plugin installed yet: pick one in the catalog.</adm-notice> }
      </mat-tab>
      <mat-tab label="Catalog">
        <mat-form-field class="full">
          <mat-label>Search</mat-label>
          <input matInput [(ngModel)]="query" (keyup.enter)="search()" data-testid="catalog-search" />
        </mat-form-field>
        @for (c of api.catalog(); track c.id) {
          <mat-card appearance="outlined" class="section" [attr.data-testid]="'catalog-' + c.name">
            <mat-card-header>
              <mat-card-title>{{ c.name }} <small>{{ c.version }}</small></mat-card-title>
              <mat-card-subtitle>risk {{ c.risk }} · {{ c.avg_rating ?? '–' }}★ ({{ c.rating_count }}) · {{ c.install_count }} installed</mat-card-subtitle>
            </mat-card-header>
            <mat-card-content><p>{{ c.description }}</p></mat-card-content>
            <mat-card-actions><button mat-flat-button (click)="install(c)" data-testid="catalog-install"><adm-icon name="add" /> Install</button></mat-card-actions>
          </mat-card>
        } @empty { <adm-notice>The catalog is empty: add a repository.</adm-notice> }
      </mat-tab>
      <mat-tab label="Repositories">
        <form class="toolbar-row" (ngSubmit)="addRepository()">
          <mat-form-field><mat-label>Name</mat-label><input matInput name="name" [(ngModel)]="repo.name" required data-testid="repo-name" /></mat-form-field>
          <mat-form-field class="grow"><mat-label>Git URL</mat-label><input matInput name="url" [(ngModel)]="repo.url" required data-testid="repo-url" /></mat-form-field>
          <mat-form-field><mat-label>Branch</mat-label><input matInput name="branch" [(ngModel)]="repo.branch" data-testid="repo-branch" /></mat-form-field>
          <button mat-flat-button type="submit" data-testid="repo-add"><adm-icon name="add" /> Add</button>
        </form>
        @for (r of api.repositories(); track r.id) {
          <mat-card appearance="outlined" class="section" [attr.data-testid]="'repo-' + r.name">
            <mat-card-header>
              <mat-card-title>{{ r.name }}</mat-card-title>
              <mat-card-subtitle><adm-state-chip [state]="r.status" /> {{ r.url }} · {{ r.branch }} · {{ r.plugins }} plugins, {{ r.templates }} templates</mat-card-subtitle>
            </mat-card-header>
            <mat-card-content>
              @if (r.last_error) { <p class="form-error">{{ r.last_error }}</p> }
              <p>Commit <code>{{ r.commit ?? '–' }}</code> · synced {{ r.synced_at ?? 'never' }}</p>
            </mat-card-content>
            <mat-card-actions>
              <button mat-button (click)="syncRepository(r.id)" data-testid="repo-sync"><adm-icon name="refresh" /> Sync</button>
              <button mat-button class="danger" (click)="removeRepository(r.id, r.name)"><adm-icon name="delete" /> Remove</button>
            </mat-card-actions>
          </mat-card>
        } @empty { <adm-notice>No repository yet.</adm-notice> }
      </mat-tab>
      <mat-tab label="Templates">
        @for (t of api.templates(); track t.id) {
          <mat-card appearance="outlined" class="section" [attr.data-testid]="'template-' + t.name">
            <mat-card-header><mat-card-title>{{ t.name }}</mat-card-title><mat-card-subtitle>{{ t.category ?? '' }} {{ t.tags.join(', ') }}</mat-card-subtitle></mat-card-header>
            <mat-card-content><p>{{ t.description }}</p></mat-card-content>
            <mat-card-actions><button mat-flat-button (click)="installTemplate(t.id)" data-testid="template-install"><adm-icon name="add" /> Install</button></mat-card-actions>
          </mat-card>
        } @empty { <adm-notice>No templates in the repositories.</adm-notice> }
        @if (message(); as m) { <p role="status">{{ m }}</p> }
      </mat-tab>
    </mat-tab-group>
  `,
  styles: `.logs { max-height: 240px; overflow: auto; font-size: 12px; } .grow { flex: 1; } .toolbar-row { display: flex; gap: 8px; align-items: baseline; flex-wrap: wrap; }`,
})
export class PluginsPage implements OnInit {
  protected readonly api = inject(PluginsApi);
  private readonly dialog = inject(MatDialog);
  protected readonly error = signal<ApiError | null>(null);
  protected readonly message = signal('');
  protected readonly openLogs = signal<string | null>(null);
  protected readonly logs = signal<PluginLogLine[]>([]);
  protected readonly deadLetters = signal<DeadLetter[]>([]);
  protected readonly stars = [1, 2, 3, 4, 5];
  protected query = '';
  protected repo = { name: '', url: '', branch: 'main' };

  ngOnInit(): void {
    void this.reload();
  }

  protected async reload(): Promise<void> {
    await this.run(() => Promise.all([this.api.loadInstalled(), this.api.loadCatalog(this.query), this.api.loadRepositories(), this.api.loadTemplates()]));
  }

  protected search(): Promise<void> {
    return this.run(() => this.api.loadCatalog(this.query));
  }

  protected async install(plugin: CatalogPluginView): Promise<void> {
    const ref = this.dialog.open(PluginInstallDialog, { data: plugin, width: '560px' });
    ref.afterClosed().subscribe((installed) => installed && void this.reload());
  }

  protected setEnabled(p: InstalledPluginView, enabled: boolean): Promise<void> {
    return this.run(async () => {
      await this.api.setEnabled(p.id, enabled);
      await this.api.loadInstalled();
    });
  }

  protected rate(p: InstalledPluginView, rating: number): Promise<void> {
    return this.run(async () => {
      await this.api.rate(p.id, rating);
      await this.api.loadCatalog(this.query);
    });
  }

  protected async uninstall(p: InstalledPluginView): Promise<void> {
    if (!(await confirmAction(this.dialog, { title: `Uninstall ${p.name}?`, message: 'Its consumer and key-value entries are deleted.', action: 'Uninstall' }))) return;
    await this.run(async () => {
      await this.api.uninstall(p.id);
      await this.api.loadInstalled();
    });
  }

  protected showLogs(id: string): Promise<void> {
    if (this.openLogs() === id) {
      this.openLogs.set(null);
      return Promise.resolve();
    }
    return this.run(async () => {
      const { logs, dead_letters } = await this.api.logs(id);
      this.logs.set(logs);
      this.deadLetters.set(dead_letters);
      this.openLogs.set(id);
    });
  }

  protected addRepository(): Promise<void> {
    return this.run(async () => {
      await this.api.addRepository(this.repo);
      this.repo = { name: '', url: '', branch: 'main' };
      await this.reload();
    });
  }

  protected syncRepository(id: string): Promise<void> {
    return this.run(async () => {
      await this.api.syncRepository(id);
      await this.reload();
    });
  }

  protected async removeRepository(id: string, name: string): Promise<void> {
    if (!(await confirmAction(this.dialog, { title: `Remove ${name}?`, message: 'Its catalog entries go; installed plugins stay.', action: 'Remove' }))) return;
    await this.run(async () => {
      await this.api.removeRepository(id);
      await this.reload();
    });
  }

  protected installTemplate(id: string): Promise<void> {
    return this.run(async () => {
      const template = await this.api.installTemplate(id);
      this.message.set(`Template ${template.name} created.`);
    });
  }

  private async run(work: () => Promise<unknown>): Promise<void> {
    this.error.set(null);
    try {
      await work();
    } catch (e) {
      this.error.set(toApiError(e));
    }
  }
}
