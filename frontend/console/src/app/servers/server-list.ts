import { ChangeDetectionStrategy, Component, DestroyRef, computed, inject, signal } from '@angular/core';
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
import { Server, ServerState, ServerUsage, ServersApi } from './servers-api';

const STATES: ServerState[] = ['installing', 'install_failed', 'offline', 'starting', 'running', 'stopping', 'crashed'];

/** Servers the user may see, with live state and power buttons. */
@Component({
  selector: 'adm-server-list',
  imports: [MatTableModule, MatButtonModule, MatFormFieldModule, MatInputModule, MatSelectModule, MatProgressBarModule, RouterLink, BytesPipe, MegabytesPipe, PercentValuePipe, Icon, Notice, Pager, StateChip, PowerButtons],
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
    @if (list.loading()) {
      <mat-progress-bar mode="indeterminate" />
    }
    @if (list.error() || list.empty()) {
      <adm-notice [error]="list.error()" (retry)="list.reload()">No servers here yet.</adm-notice>
    } @else {
      <div class="table-wrap">
        <table mat-table [dataSource]="list.items()" data-testid="server-table">
          <ng-container matColumnDef="name">
            <th mat-header-cell *matHeaderCellDef>Name</th>
            <td mat-cell *matCellDef="let s"><a [routerLink]="s.id" data-testid="server-name">{{ s.name }}</a></td>
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
                <adm-power-buttons [serverId]="s.id" [state]="s.state" [ownerId]="s.owner_id" (changed)="changed($event)" />
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
  styles: `.search { width: 320px; } .power { text-align: right; white-space: nowrap; }`,
})
export class ServerList {
  private readonly api = inject(ServersApi);
  private readonly auth = inject(Auth);
  private readonly router = inject(Router);
  protected readonly query = signal('');
  protected readonly state = signal<ServerState | ''>('');
  protected readonly list = this.api.list(() => ({ q: this.query(), state: this.state() }));
  protected readonly states = STATES;
  protected readonly columns = ['name', 'state', 'cpu', 'memory', 'power'];
  protected readonly canCreate = computed(() => this.auth.can('servers.create'));
  protected readonly canPower = computed(() => this.auth.can('servers.power'));
  private searchTimer: ReturnType<typeof setTimeout> | undefined;

  constructor() {
    const realtime = inject(Realtime);
    const leave = realtime.join('fleet');
    const offState = realtime.on<{ serverId: string; state: ServerState }>('server.state', (m) =>
      this.list.patch((s) => s.id === m.serverId, (s) => ({ ...s, state: m.state })),
    );
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
  }

  protected search(value: string): void {
    this.query.set(value);
    clearTimeout(this.searchTimer);
    this.searchTimer = setTimeout(() => this.list.first(), 250);
  }

  protected filterState(state: ServerState | ''): void {
    this.state.set(state);
    this.list.first();
  }

  protected changed(server: Server): void {
    this.list.patch((s) => s.id === server.id, (s) => ({ ...s, state: server.state }));
  }

  protected open(server: Server): void {
    void this.router.navigate(['/servers', server.id]);
  }
}
