import { ChangeDetectionStrategy, Component, DestroyRef, computed, inject, signal } from '@angular/core';
import { HttpClient } from '@angular/common/http';
import { MatCheckboxModule } from '@angular/material/checkbox';
import { MatSnackBar } from '@angular/material/snack-bar';
import { ActivatedRoute } from '@angular/router';
import { firstValueFrom } from 'rxjs';
import { toApiError } from '../core/api-error';
import { MatButtonModule } from '@angular/material/button';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { MatSelectModule } from '@angular/material/select';
import { MatTableModule } from '@angular/material/table';
import { Router, RouterLink } from '@angular/router';
import { Auth } from '../core/auth';
import { Realtime } from '../core/realtime';
import { BytesPipe, MegabytesPipe, PercentValuePipe } from '../shared/format';
import { Icon } from '../shared/icon';
import { Notice } from '../shared/notice';
import { Pager } from '../shared/pager';
import { StateChip } from '../shared/state-chip';
import { PowerButtons } from './power-buttons';
import { PowerAction, Server, ServerState, ServerUsage, ServersApi } from './servers-api';

const STATES: ServerState[] = ['installing', 'install_failed', 'offline', 'starting', 'running', 'stopping', 'crashed'];

/** Servers the user may see, with live state and power buttons. */
@Component({
  selector: 'adm-server-list',
  imports: [MatCheckboxModule, MatTableModule, MatButtonModule, MatFormFieldModule, MatInputModule, MatSelectModule, MatProgressBarModule, RouterLink, BytesPipe, MegabytesPipe, PercentValuePipe, Icon, Notice, Pager, StateChip, PowerButtons],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <header class="page-head">
      <h1>Servers</h1>
      @if (canCreate()) {
        <a mat-flat-button routerLink="new" data-testid="server-create"><adm-icon name="add" /> New server</a>
      }
    </header>
    <div class="toolbar-row">
      <mat-form-field class="search">
        <mat-label>Filter by name</mat-label>
        <input matInput [value]="query()" (input)="search($any($event.target).value)" data-testid="server-filter" />
      </mat-form-field>
      <mat-form-field>
        <mat-label>State</mat-label>
        <mat-select [value]="state()" (valueChange)="filterState($event)" data-testid="server-state-filter">
          <mat-option value="">Any</mat-option>
          @for (s of states; track s) {
            <mat-option [value]="s">{{ s }}</mat-option>
          }
        </mat-select>
      </mat-form-field>
    </div>
    @if (selected().size > 0 && canPower()) {
      <div class="toolbar-row bulk" data-testid="server-bulk">
        <span>{{ selected().size }} selected</span>
        @for (a of bulkActions; track a) {
          <button mat-stroked-button type="button" (click)="bulk(a)" [disabled]="bulkBusy()" [attr.data-testid]="'server-bulk-' + a">{{ a }}</button>
        }
        <button mat-button type="button" (click)="selected.set(emptySelection())" data-testid="server-bulk-clear">Clear</button>
      </div>
    }
    @if (list.loading()) {
      <mat-progress-bar mode="indeterminate" />
    }
    @if (list.error() || list.empty()) {
      <adm-notice [error]="list.error()" (retry)="list.reload()">No servers here yet.</adm-notice>
    } @else {
      <div class="table-wrap">
        <table mat-table [dataSource]="list.items()" data-testid="server-table">
          <ng-container matColumnDef="select">
            <th mat-header-cell *matHeaderCellDef>
              <mat-checkbox [checked]="allSelected()" [indeterminate]="selected().size > 0 && !allSelected()" (change)="selectAll($event.checked)" aria-label="Select every server on this page" data-testid="server-select-all" />
            </th>
            <td mat-cell *matCellDef="let s" (click)="$event.stopPropagation()">
              <mat-checkbox [checked]="selected().has(s.id)" (change)="toggle(s.id, $event.checked)" [attr.aria-label]="'Select ' + s.name" data-testid="server-select" />
            </td>
          </ng-container>
          <ng-container matColumnDef="name">
            <th mat-header-cell *matHeaderCellDef>Name</th>
            <td mat-cell *matCellDef="let s"><a [routerLink]="s.id" data-testid="server-name">{{ s.name }}</a></td>
          </ng-container>
          <ng-container matColumnDef="node">
            <th mat-header-cell *matHeaderCellDef>Node</th>
            <td mat-cell *matCellDef="let s" data-testid="server-node">{{ nodeNames().get(s.node_id) ?? s.node_id.slice(0, 8) }}</td>
          </ng-container>
          <ng-container matColumnDef="owner">
            <th mat-header-cell *matHeaderCellDef>Owner</th>
            <td mat-cell *matCellDef="let s" data-testid="server-owner">{{ ownerName(s.owner_id) }}</td>
          </ng-container>
          <ng-container matColumnDef="state">
            <th mat-header-cell *matHeaderCellDef>State</th>
            <td mat-cell *matCellDef="let s"><adm-state-chip data-testid="server-state" [state]="s.state" /></td>
          </ng-container>
          <ng-container matColumnDef="cpu">
            <th mat-header-cell *matHeaderCellDef>CPU</th>
            <td mat-cell *matCellDef="let s">{{ s.usage?.cpu_percent | pct }} / {{ s.limits.cpu_percent }}%</td>
          </ng-container>
          <ng-container matColumnDef="memory">
            <th mat-header-cell *matHeaderCellDef>Memory</th>
            <td mat-cell *matCellDef="let s">{{ s.usage?.memory_bytes | bytes }} / {{ s.limits.memory_mb | mb }}</td>
          </ng-container>
          <ng-container matColumnDef="power">
            <th mat-header-cell *matHeaderCellDef></th>
            <td mat-cell *matCellDef="let s" class="power">
              @if (canPower()) {
                <adm-power-buttons [serverId]="s.id" [state]="s.state" [ownerId]="s.owner_id" [subusers]="s.subusers" (changed)="changed($event)" />
              }
            </td>
          </ng-container>
          <tr mat-header-row *matHeaderRowDef="columns"></tr>
          <tr mat-row *matRowDef="let s; columns: columns" class="clickable" data-testid="server-row" [attr.data-server-id]="s.id"
              [attr.data-server-name]="s.name" (click)="open(s)"></tr>
        </table>
      </div>
      <adm-pager [list]="list" />
    }
  `,
  styles: `.search { width: 320px; } .power { text-align: right; white-space: nowrap; } .bulk { gap: 8px; align-items: center; margin-bottom: 8px; }`,
})
export class ServerList {
  private readonly api = inject(ServersApi);
  private readonly auth = inject(Auth);
  private readonly router = inject(Router);
  private readonly route = inject(ActivatedRoute);
  private readonly http = inject(HttpClient);
  private readonly snack = inject(MatSnackBar);
  // Filters live in the address (?q=&state=), so a reload or a shared link keeps them.
  protected readonly query = signal(this.route.snapshot.queryParamMap.get('q') ?? '');
  protected readonly state = signal<ServerState | ''>((STATES as string[]).includes(this.route.snapshot.queryParamMap.get('state') ?? '') ? (this.route.snapshot.queryParamMap.get('state') as ServerState) : '');
  protected readonly selected = signal<ReadonlySet<string>>(new Set());
  protected readonly bulkBusy = signal(false);
  protected readonly bulkActions: PowerAction[] = ['start', 'stop', 'restart'];
  protected readonly nodeNames = signal<ReadonlyMap<string, string>>(new Map());
  private readonly userNames = signal<ReadonlyMap<string, string>>(new Map());
  protected readonly allSelected = computed(() => this.list.items().length > 0 && this.list.items().every((s) => this.selected().has(s.id)));
  protected readonly list = this.api.list(() => ({ q: this.query(), state: this.state() }));
  protected readonly states = STATES;
  protected readonly columns = ['select', 'name', 'node', 'owner', 'state', 'cpu', 'memory', 'power'];
  protected readonly canCreate = computed(() => this.auth.can('servers.create'));
  protected readonly canPower = computed(() => this.auth.can('servers.power'));
  private searchTimer: ReturnType<typeof setTimeout> | undefined;
  /** State pushes received per server: a power answer older than a push must not undo it. */
  private readonly pushes = new Map<string, number>();

  constructor() {
    const realtime = inject(Realtime);
    const leave = realtime.join('fleet');
    const offState = realtime.on<{ serverId: string; state: ServerState }>('server.state', (m) => {
      this.pushes.set(m.serverId, (this.pushes.get(m.serverId) ?? 0) + 1);
      this.list.patch((s) => s.id === m.serverId, (s) => ({ ...s, state: m.state }));
    });
    const offUsage = realtime.on<ServerUsage>('server.usage', (u) =>
      this.list.patch((s) => s.id === u.serverId, (s) => ({ ...s, usage: u })),
    );
    inject(DestroyRef).onDestroy(() => {
      leave();
      offState();
      offUsage();
      this.list.destroy();
      clearTimeout(this.searchTimer);
    });
    this.list.first();
    void this.loadNames();
  }

  protected search(value: string): void {
    this.query.set(value);
    clearTimeout(this.searchTimer);
    this.searchTimer = setTimeout(() => {
      this.syncAddress();
      this.list.first();
    }, 250);
  }

  protected filterState(state: ServerState | ''): void {
    this.state.set(state);
    this.syncAddress();
    this.list.first();
  }

  protected emptySelection(): ReadonlySet<string> {
    return new Set();
  }

  protected toggle(id: string, on: boolean): void {
    this.selected.update((s) => {
      const next = new Set(s);
      if (on) next.add(id);
      else next.delete(id);
      return next;
    });
  }

  protected selectAll(on: boolean): void {
    this.selected.set(on ? new Set(this.list.items().map((s) => s.id)) : new Set());
  }

  /** One power action on every selected server, one request each; failures are counted and named. */
  protected async bulk(action: PowerAction): Promise<void> {
    const ids = [...this.selected()];
    this.bulkBusy.set(true);
    const failed: string[] = [];
    await Promise.all(
      ids.map(async (id) => {
        try {
          const pushed = this.pushes.get(id) ?? 0;
          const server = await this.api.power(id, action);
          // The answer holds the state right after the action (`starting`); a push that came while it
          // was under way is newer (a quick server is `running` before its answer arrives).
          if ((this.pushes.get(id) ?? 0) === pushed) this.changed(server);
        } catch (e) {
          const name = this.list.items().find((s) => s.id === id)?.name ?? id;
          failed.push(`${name}: ${toApiError(e).message}`);
        }
      }),
    );
    this.bulkBusy.set(false);
    this.selected.set(new Set());
    this.snack.open(failed.length ? `${action}: ${ids.length - failed.length} of ${ids.length} done. ${failed.join('; ')}` : `${action}: ${ids.length} servers`, 'Dismiss', { duration: failed.length ? 10_000 : 3_000 });
  }

  protected ownerName(ownerId: string): string {
    if (ownerId === this.auth.me()?.user.id) return 'you';
    return this.userNames().get(ownerId) ?? ownerId.slice(0, 8);
  }

  /** Names for the Node and Owner columns, where the user may read them (else short ids). */
  private async loadNames(): Promise<void> {
    const page = async <T>(url: string): Promise<T[]> => ((await firstValueFrom(this.http.get<{ items: T[] }>(url, { params: { limit: 500 } })).catch(() => ({ items: [] as T[] }))).items ?? []);
    if (this.auth.can('nodes.read')) this.nodeNames.set(new Map((await page<{ id: string; name: string }>('/api/v1/nodes')).map((n) => [n.id, n.name])));
    if (this.auth.can('users.read')) this.userNames.set(new Map((await page<{ id: string; name: string }>('/api/v1/users')).map((u) => [u.id, u.name])));
  }

  private syncAddress(): void {
    void this.router.navigate([], { relativeTo: this.route, replaceUrl: true, queryParams: { q: this.query() || null, state: this.state() || null } });
  }

  protected changed(server: Server): void {
    this.list.patch((s) => s.id === server.id, (s) => ({ ...s, state: server.state }));
  }

  protected open(server: Server): void {
    void this.router.navigate(['/servers', server.id]);
  }
}
