import { ChangeDetectionStrategy, Component, computed, effect, inject, input, signal, untracked } from '@angular/core';
import { NonNullableFormBuilder, ReactiveFormsModule } from '@angular/forms';
import { MatButtonModule } from '@angular/material/button';
import { MatCardModule } from '@angular/material/card';
import { MatDialog } from '@angular/material/dialog';
import { MatExpansionModule } from '@angular/material/expansion';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { MatSnackBar } from '@angular/material/snack-bar';
import { MatTabsModule } from '@angular/material/tabs';
import { MatTooltipModule } from '@angular/material/tooltip';
import { Router, RouterLink } from '@angular/router';
import { ApiError, toApiError, readableMessage } from '../core/api-error';
import { Auth } from '../core/auth';
import { Realtime } from '../core/realtime';
import { confirmAction } from '../shared/confirm';
import { CopyButton } from '../shared/copy-button';
import { BytesPipe, MegabytesPipe, PercentValuePipe } from '../shared/format';
import { Icon } from '../shared/icon';
import { Notice } from '../shared/notice';
import { StateChip } from '../shared/state-chip';
import { ChartSeries, UsageChart } from '../shared/usage-chart';
import { UsageSeries, percentOf } from '../shared/usage-series';
import { ServerAction } from '@encedeus/contracts/access';
import { PowerButtons } from './power-buttons';
import { ServerAccess } from './server-access';
import { ServerBackups } from './server-backups';
import { ServerFiles } from './server-files';
import { ServerHistory } from './server-history';
import { ServerSettings } from './server-settings';
import { ServerTerminal } from './server-terminal';
import { ServerUsers } from './server-users';
import { Server, ServerState, ServerUsage, ServersApi } from './servers-api';
import { Template, TemplatesApi } from './templates-api';
import { NodesApi } from '../nodes/nodes-api';

const SERIES: ChartSeries[] = [
  { label: 'CPU', color: '#1e88e5' },
  { label: 'Memory', color: '#8e24aa' },
];
const HISTORY_SIZE = 50;

/** States in which a server's process may be using CPU and memory (its usage figures are current). */
const USING_STATES: ReadonlySet<string> = new Set(['starting', 'running', 'stopping']);

/** One server: live state, power, console, usage, settings and deletion. */
@Component({
  selector: 'adm-server-detail',
  imports: [
    ReactiveFormsModule, MatCardModule, MatButtonModule, MatFormFieldModule, MatInputModule, MatProgressBarModule, MatExpansionModule, MatTooltipModule, MatTabsModule,
    RouterLink, CopyButton, ServerFiles, ServerBackups, ServerUsers, BytesPipe, MegabytesPipe, PercentValuePipe, Icon, Notice, StateChip, UsageChart, PowerButtons, ServerHistory, ServerSettings, ServerTerminal,
  ],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <header class="page-head">
      <a mat-icon-button routerLink="/servers" aria-label="Back to servers"><adm-icon name="back" /></a>
      <h1>{{ server()?.name ?? 'Server' }}</h1>
      @if (server(); as s) {
        <adm-state-chip data-testid="server-state" [state]="s.state" />
        @if (canPower()) {
          <adm-power-buttons [serverId]="s.id" [state]="s.state" [ownerId]="s.owner_id" [subusers]="s.subusers" />
        }
      }
    </header>
    @if (loading()) {
      <mat-progress-bar mode="indeterminate" />
    }
    @if (error(); as e) {
      <adm-notice [error]="e" (retry)="load()" />
    } @else if (server(); as s) {
      <mat-tab-group preserveContent animationDuration="0ms" [selectedIndex]="tabIndex()" (selectedIndexChange)="showTab($event)" class="section">
        <mat-tab>
          <ng-template mat-tab-label><span data-testid="server-tab-overview">Overview</span></ng-template>
          <div class="tab-body">
            @if (canConsole()) {
              <mat-card appearance="outlined" class="section">
                <mat-card-header><mat-card-title>Console</mat-card-title></mat-card-header>
                <mat-card-content>
                  <adm-server-terminal [serverId]="s.id" />
                  <form class="console-row" [formGroup]="consoleForm" (ngSubmit)="sendCommand()">
                    <mat-form-field class="spacer">
                      <mat-label>Command</mat-label>
                      <input matInput formControlName="command" autocomplete="off" spellcheck="false" class="mono" data-testid="console-input" [readonly]="!canType()"
                             (keydown.arrowup)="recall(-1, $event)" (keydown.arrowdown)="recall(1, $event)" />
                    </mat-form-field>
                    <button mat-flat-button type="submit" [disabled]="sendDisabled()" data-testid="console-send"
                            [matTooltip]="canType() ? '' : 'Only the owner, a sub-user granted console, or someone with servers.manage may type here'"><adm-icon name="send" /> Send</button>
                  </form>
                </mat-card-content>
              </mat-card>
            }
            <div class="grid section">
              <mat-card appearance="outlined">
                <mat-card-header><mat-card-title>Usage</mat-card-title></mat-card-header>
                <mat-card-content>
                  <dl class="kv" data-testid="server-usage">
                    <dt>CPU</dt><dd>{{ usage()?.cpu_percent | pct }} of {{ s.limits.cpu_percent }}%</dd>
                    <dt>Memory</dt><dd>{{ usage()?.memory_bytes | bytes }} of {{ s.limits.memory_mb | mb }}</dd>
                    <dt>Disk</dt><dd>{{ usage()?.disk_bytes | bytes }} of {{ s.limits.disk_mb | mb }}</dd>
                  </dl>
                  <adm-usage-chart [series]="series" [data]="live.data()" data-testid="server-usage-chart" />
                </mat-card-content>
              </mat-card>
              <mat-card appearance="outlined">
                <mat-card-header><mat-card-title>Details</mat-card-title></mat-card-header>
                <mat-card-content>
                  <dl class="kv">
                    <dt>Template</dt><dd>{{ template()?.name ?? s.template_id }}</dd>
                    <dt>Node</dt><dd>@if (nodeName(); as name) {<a [routerLink]="['/nodes', s.node_id]" data-testid="server-node">{{ name }}</a>} @else {<span data-testid="server-node">{{ s.node_id }}</span>}</dd>
                    <dt>Ports</dt><dd class="mono">{{ ports() }}</dd>
                    <dt>Id</dt><dd class="mono">{{ s.id }}</dd>
                    @if (s.sftp; as sftp) {
                      <dt>SFTP</dt>
                      <dd class="sftp" data-testid="server-sftp">
                        <span class="mono" data-testid="server-sftp-address">{{ sftpAddress() }}</span>
                        <adm-copy-button [text]="sftpAddress()" label="Copy the SFTP address" />
                        <span class="hint">user <span class="mono">{{ sftp.username }}</span>, your Encedeus password or SSH key</span>
                      </dd>
                    }
                  </dl>
                </mat-card-content>
              </mat-card>
            </div>
            <adm-server-history [serverId]="s.id" [memoryLimitMb]="s.limits.memory_mb" />
            @if (canManage()) {
              <mat-accordion class="section">
                <mat-expansion-panel data-testid="server-settings-panel">
                  <mat-expansion-panel-header><mat-panel-title>Settings</mat-panel-title></mat-expansion-panel-header>
                  @if (settingsBase(); as base) {
                    <adm-server-settings [server]="base" [template]="template()" (saved)="settingsSaved($event)" />
                  }
                </mat-expansion-panel>
                <mat-expansion-panel>
                  <mat-expansion-panel-header><mat-panel-title>Danger zone</mat-panel-title></mat-expansion-panel-header>
                  <p>Deleting removes the server and its files from the node. This cannot be undone.</p>
                  <button mat-flat-button class="danger" (click)="remove()" [disabled]="deleting()" data-testid="server-delete"><adm-icon name="delete" /> Delete server</button>
                </mat-expansion-panel>
              </mat-accordion>
            }
          </div>
        </mat-tab>
        @if (canFiles()) {
          <mat-tab>
            <ng-template mat-tab-label><span data-testid="server-tab-files">Files</span></ng-template>
            <ng-template matTabContent>
              <div class="tab-body"><adm-server-files [server]="s" /></div>
            </ng-template>
          </mat-tab>
        }
        @if (canBackups()) {
          <mat-tab>
            <ng-template mat-tab-label><span data-testid="server-tab-backups">Backups</span></ng-template>
            <ng-template matTabContent>
              <div class="tab-body"><adm-server-backups [server]="s" /></div>
            </ng-template>
          </mat-tab>
        }
        @if (canUsers()) {
          <mat-tab>
            <ng-template mat-tab-label><span data-testid="server-tab-users">Users</span></ng-template>
            <ng-template matTabContent>
              <div class="tab-body"><adm-server-users [server]="s" (changedList)="load()" /></div>
            </ng-template>
          </mat-tab>
        }
      </mat-tab-group>
    }
  `,
  styles: `
    .console-row { display: flex; gap: 8px; align-items: center; margin-top: 12px; }
    .tab-body { padding-top: 16px; }
    .sftp { display: flex; align-items: center; flex-wrap: wrap; gap: 0 4px; }
  `,
})
export class ServerDetail {
  private readonly api = inject(ServersApi);
  private readonly templates = inject(TemplatesApi);
  private readonly nodes = inject(NodesApi);
  /** The node's name when the caller may read nodes; the id otherwise. */
  protected readonly nodeName = signal<string | null>(null);
  private readonly auth = inject(Auth);
  private readonly realtime = inject(Realtime);
  private readonly dialog = inject(MatDialog);
  private readonly snack = inject(MatSnackBar);
  private readonly router = inject(Router);
  readonly id = input.required<string>();
  /** `?tab=files` opens the file manager, `?tab=backups` the backups (bound from the query string). */
  readonly tab = input<string>();

  protected readonly server = signal<Server | null>(null);
  /** What the settings form edits; not touched by live pushes so edits in progress survive them. */
  protected readonly settingsBase = signal<Server | null>(null);
  protected readonly template = signal<Template | null>(null);
  protected readonly usage = signal<ServerUsage | null>(null);
  protected readonly loading = signal(false);
  /** The state of the last `server.state` push for this server since the last load began. */
  private pushedState: ServerState | null = null;
  protected readonly error = signal<ApiError | null>(null);
  protected readonly sending = signal(false);
  protected readonly deleting = signal(false);
  protected readonly consoleForm = inject(NonNullableFormBuilder).group({ command: [''] });
  private readonly command = this.consoleForm.controls.command;
  protected readonly live = new UsageSeries(2);
  protected readonly series = SERIES;
  private readonly sent: string[] = [];
  private recallIndex = 0;

  private readonly access = inject(ServerAccess);
  /** Whether `action` is allowed on this server by contracts' canControlServer (what the gateway enforces). */
  private may(action: ServerAction): boolean {
    const s = this.server();
    return !!s && this.access.may(s, action);
  }
  protected readonly canPower = computed(() => this.auth.can('servers.power'));
  /** Reading the console: servers.console on a server one sees; a sub-user also needs the `console` grant (contracts' canWatchServer). */
  protected readonly canConsole = computed(() => {
    const s = this.server();
    return !!s && this.access.watches(s, 'console');
  });
  /** Typing into it: also owning the server or servers.manage. */
  protected readonly canType = computed(() => this.may('console'));
  protected readonly sendDisabled = computed(() => this.sending() || !this.canType());
  protected readonly canManage = computed(() => this.may('change'));
  protected readonly canFiles = computed(() => this.may('files.read'));
  protected readonly canBackups = computed(() => this.may('backups.read'));
  /** The Users tab (sub-users, docs/subusers.md): the owner, `servers.manage`, or a sub-user granted `users`. */
  protected readonly canUsers = computed(() => this.may('users'));
  /** The tabs shown, in order (each is a `?tab=` value; Overview is the default). */
  private readonly tabs = computed(() => [
    'overview',
    ...(this.canFiles() ? ['files'] : []),
    ...(this.canBackups() ? ['backups'] : []),
    ...(this.canUsers() ? ['users'] : []),
  ]);
  protected readonly tabIndex = computed(() => Math.max(0, this.tabs().indexOf(this.tab() ?? 'overview')));
  /** `sftp://user@host:port`, what SFTP clients take as one address. */
  protected readonly sftpAddress = computed(() => {
    const sftp = this.server()?.sftp;
    return sftp ? `sftp://${sftp.username}@${sftp.host}:${sftp.port}` : '';
  });
  protected readonly ports = computed(() => (this.server()?.ports ?? []).map((p) => (typeof p === 'object' ? JSON.stringify(p) : String(p))).join(', ') || '—');

  constructor() {
    effect((onCleanup) => {
      const id = this.id();
      untracked(() => void this.load());
      const leave = this.realtime.join(`server:${id}`);
      const offState = this.realtime.on<{ serverId: string; state: ServerState }>('server.state', (m) => {
        if (m.serverId !== id) return;
        // A push that arrives before the server has loaded is kept and applied to it (issue 14: the
        // badge stayed "starting" when the server started while its page loaded).
        this.pushedState = m.state;
        this.server.update((s) => (s ? { ...s, state: m.state } : s));
        // A stopped server uses nothing: its last figures are not shown as current (issue 14).
        if (!USING_STATES.has(m.state)) this.usage.set(null);
      });
      const offUsage = this.realtime.on<ServerUsage>('server.usage', (u) => {
        // A sample in flight when the server stopped is not current either.
        if (u.serverId === id && USING_STATES.has(this.server()?.state ?? 'running')) this.addUsage(u);
      });
      onCleanup(() => {
        leave();
        offState();
        offUsage();
      });
    });
  }

  protected async load(): Promise<void> {
    this.loading.set(true);
    this.error.set(null);
    this.pushedState = null;
    try {
      const loaded = await this.api.get(this.id());
      // Pushes are sent once an event is recorded; the read model a GET answers from may not show it
      // yet. The latest push received while loading wins, and any later one replaces it.
      const server = this.pushedState ? { ...loaded, state: this.pushedState } : loaded;
      this.server.set(server);
      this.settingsBase.set(server);
      if (server.usage && USING_STATES.has(server.state)) this.addUsage(server.usage);
      const [template, node] = await Promise.all([
        this.templates.get(server.template_id).catch(() => null),
        this.auth.can('nodes.read') ? this.nodes.get(server.node_id).catch(() => null) : null,
      ]);
      this.template.set(template);
      this.nodeName.set(node?.name ?? null);
    } catch (e) {
      this.error.set(toApiError(e));
    } finally {
      this.loading.set(false);
    }
  }

  protected async sendCommand(): Promise<void> {
    const command = this.command.value.trim();
    if (!command || !this.canType()) return;
    this.sending.set(true);
    try {
      // The socket call is the primary path; REST covers a dropped live channel.
      if (this.realtime.connected()) await this.realtime.call('servers.command', { serverId: this.id(), command }).result;
      else await this.api.command(this.id(), command);
      this.sent.push(command);
      this.sent.splice(0, Math.max(0, this.sent.length - HISTORY_SIZE));
      this.recallIndex = this.sent.length;
      this.command.setValue('');
    } catch (e) {
      const err = toApiError(e);
      this.snack.open(`Command failed: ${readableMessage(err)}`, 'Dismiss', { duration: 6000 });
    } finally {
      this.sending.set(false);
    }
  }

  /** Up / down arrows walk through the commands sent in this page. */
  protected recall(step: number, event: Event): void {
    if (!this.sent.length) return;
    event.preventDefault();
    this.recallIndex = Math.min(this.sent.length, Math.max(0, this.recallIndex + step));
    this.command.setValue(this.sent[this.recallIndex] ?? '');
  }

  /** Keeps the open tab in the address, so a reload or a shared link lands on it. */
  protected showTab(index: number): void {
    // Signing out clears the permissions, the Files/Backups/Users tabs vanish and the group moves to
    // Overview by itself: navigating then would cancel the sign-out's navigation to /login.
    if (!this.auth.me()) return;
    const tab = this.tabs()[index];
    void this.router.navigate([], { queryParams: { tab: tab && tab !== 'overview' ? tab : null }, queryParamsHandling: 'merge', replaceUrl: true });
  }

  protected settingsSaved(server: Server): void {
    this.server.update((s) => (s ? { ...server, state: s.state } : server));
    this.settingsBase.set(server);
  }

  protected async remove(): Promise<void> {
    const ok = await confirmAction(this.dialog, { title: `Delete ${this.server()?.name}?`, message: 'The server and its files are removed.', action: 'Delete' });
    if (!ok) return;
    this.deleting.set(true);
    try {
      await this.api.remove(this.id());
      this.snack.open('Server deleted', undefined, { duration: 3000 });
      await this.router.navigate(['/servers']);
    } catch (e) {
      const err = toApiError(e);
      this.snack.open(readableMessage(err), 'Dismiss', { duration: 6000 });
    } finally {
      this.deleting.set(false);
    }
  }

  private addUsage(u: ServerUsage): void {
    this.usage.set(u);
    this.live.push(u.at, [u.cpu_percent ?? null, percentOf(u.memory_bytes, u.memory_limit_bytes)]);
  }
}
