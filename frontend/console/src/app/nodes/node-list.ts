import { ChangeDetectionStrategy, Component, DestroyRef, computed, inject, signal } from '@angular/core';
import { DatePipe } from '@angular/common';
import { MatButtonModule } from '@angular/material/button';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { MatTableModule } from '@angular/material/table';
import { Router, RouterLink } from '@angular/router';
import { Auth } from '../core/auth';
import { Realtime } from '../core/realtime';
import { MegabytesPipe } from '../shared/format';
import { Icon } from '../shared/icon';
import { Notice } from '../shared/notice';
import { Pager } from '../shared/pager';
import { StateChip } from '../shared/state-chip';
import { FleetNode, NodesApi } from './nodes-api';

/** Every node with its live online state. */
@Component({
  selector: 'adm-node-list',
  imports: [MatTableModule, MatButtonModule, MatFormFieldModule, MatInputModule, MatProgressBarModule, RouterLink, DatePipe, MegabytesPipe, Icon, Notice, Pager, StateChip],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <header class="page-head">
      <h1>Nodes</h1>
      @if (canManage()) {
        <a mat-flat-button routerLink="new" data-testid="node-create"><adm-icon name="add" /> Add node</a>
      }
    </header>
    <div class="toolbar-row">
      <mat-form-field class="search">
        <mat-label>Filter by name</mat-label>
        <input matInput [value]="search()" (input)="filter($any($event.target).value)" data-testid="node-filter" />
      </mat-form-field>
    </div>
    @if (list.loading()) {
      <mat-progress-bar mode="indeterminate" />
    }
    @if (list.error() || list.empty()) {
      <adm-notice [error]="list.error()" (retry)="list.reload()">No nodes yet. Add one and run the enrollment command on the machine.</adm-notice>
    } @else {
      <div class="table-wrap">
        <table mat-table [dataSource]="list.items()" data-testid="node-table">
          <ng-container matColumnDef="name">
            <th mat-header-cell *matHeaderCellDef>Name</th>
            <td mat-cell *matCellDef="let n"><a [routerLink]="n.id" data-testid="node-name">{{ n.name }}</a></td>
          </ng-container>
          <ng-container matColumnDef="state">
            <th mat-header-cell *matHeaderCellDef>State</th>
            <td mat-cell *matCellDef="let n">
              <adm-state-chip data-testid="node-state" [state]="n.state" />
              @if (n.draining) { <adm-state-chip state="draining" /> }
            </td>
          </ng-container>
          <ng-container matColumnDef="memory">
            <th mat-header-cell *matHeaderCellDef>Memory (allocated / limit)</th>
            <td mat-cell *matCellDef="let n">{{ n.allocated?.memory_mb | mb }} / {{ n.memory_mb | mb }}</td>
          </ng-container>
          <ng-container matColumnDef="cpu">
            <th mat-header-cell *matHeaderCellDef>CPU (allocated / limit)</th>
            <td mat-cell *matCellDef="let n">{{ n.allocated?.cpu_percent ?? 0 }}% / {{ n.cpu_percent }}%</td>
          </ng-container>
          <ng-container matColumnDef="tags">
            <th mat-header-cell *matHeaderCellDef>Tags</th>
            <td mat-cell *matCellDef="let n">{{ n.tags?.join(', ') }}</td>
          </ng-container>
          <ng-container matColumnDef="seen">
            <th mat-header-cell *matHeaderCellDef>Last seen</th>
            <td mat-cell *matCellDef="let n">{{ n.lastSeenAt | date: 'short' }}</td>
          </ng-container>
          <tr mat-header-row *matHeaderRowDef="columns"></tr>
          <tr mat-row *matRowDef="let n; columns: columns" class="clickable" data-testid="node-row" [attr.data-node-id]="n.id"
              [attr.data-node-name]="n.name" (click)="open(n)"></tr>
        </table>
      </div>
      <adm-pager [list]="list" />
    }
  `,
  styles: `.search { width: 320px; }`,
})
export class NodeList {
  private readonly api = inject(NodesApi);
  private readonly auth = inject(Auth);
  private readonly router = inject(Router);
  protected readonly search = signal('');
  protected readonly list = this.api.list(() => this.search());
  protected readonly canManage = computed(() => this.auth.can('nodes.manage'));
  protected readonly columns = ['name', 'state', 'memory', 'cpu', 'tags', 'seen'];
  private filterTimer: ReturnType<typeof setTimeout> | undefined;

  constructor() {
    const realtime = inject(Realtime);
    const leave = realtime.join('fleet');
    const off = realtime.on<{ nodeId: string; state: FleetNode['state'] | 'deleted'; spec?: FleetNode['spec'] }>('node.state', (m) => {
      const state = m.state;
      if (state === 'deleted') this.list.remove((n) => n.id === m.nodeId);
      else this.list.patch((n) => n.id === m.nodeId, (n) => ({ ...n, state, spec: m.spec ?? n.spec }));
    });
    inject(DestroyRef).onDestroy(() => {
      leave();
      off();
      this.list.destroy();
      clearTimeout(this.filterTimer);
    });
    this.list.first();
  }

  protected filter(value: string): void {
    this.search.set(value);
    clearTimeout(this.filterTimer);
    this.filterTimer = setTimeout(() => this.list.first(), 250);
  }

  protected open(node: FleetNode): void {
    void this.router.navigate(['/nodes', node.id]);
  }
}
