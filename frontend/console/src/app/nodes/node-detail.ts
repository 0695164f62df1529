import { ChangeDetectionStrategy, Component, computed, effect, inject, input, signal, untracked } from '@angular/core';
import { NonNullableFormBuilder, ReactiveFormsModule, Validators } from '@angular/forms';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { DatePipe } from '@angular/common';
import { MatButtonModule } from '@angular/material/button';
import { MatButtonToggleModule } from '@angular/material/button-toggle';
import { MatCardModule } from '@angular/material/card';
import { MatDialog } from '@angular/material/dialog';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { MatSnackBar } from '@angular/material/snack-bar';
import { Router, RouterLink } from '@angular/router';
import { ApiError, toApiError, readableMessage } from '../core/api-error';
import { Auth } from '../core/auth';
import { Realtime } from '../core/realtime';
import { confirmAction } from '../shared/confirm';
import { CopyButton } from '../shared/copy-button';
import { applyServerErrors, errorText } from '../shared/form-errors';
import { BytesPipe, MegabytesPipe } from '../shared/format';
import { Icon } from '../shared/icon';
import { Notice } from '../shared/notice';
import { StateChip } from '../shared/state-chip';
import { ChartSeries, UsageChart } from '../shared/usage-chart';
import { UsageSeries, percentOf } from '../shared/usage-series';
import { Enrollment, FleetNode, HistoryRange, NodeUsage, NodesApi } from './nodes-api';

const SERIES: ChartSeries[] = [
  { label: 'CPU', color: '#1e88e5' },
  { label: 'Memory', color: '#8e24aa' },
];

const sample = (u: NodeUsage) => ({ at: u.at, values: [u.cpu_percent ?? null, percentOf(u.memory_usage, u.memory_limit)] });

/** One node: spec, allocation, its servers, live and historical usage; edit, drain and undrain, re-enroll, delete. */
@Component({
  selector: 'adm-node-detail',
  imports: [ReactiveFormsModule, MatCardModule, MatButtonModule, MatButtonToggleModule, MatFormFieldModule, MatInputModule, MatProgressBarModule, RouterLink, DatePipe, BytesPipe, MegabytesPipe, CopyButton, Icon, Notice, StateChip, UsageChart],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <header class="page-head">
      <a mat-icon-button routerLink="/nodes" aria-label="Back to nodes"><adm-icon name="back" /></a>
      <h1>{{ node()?.name ?? 'Node' }}</h1>
      @if (node(); as n) {
        <adm-state-chip data-testid="node-state" [state]="n.state" />
        @if (n.draining) { <adm-state-chip state="draining" data-testid="node-draining" /> }
        @if (canManage()) {
          <button mat-stroked-button (click)="startEdit(n)" [disabled]="busy()" data-testid="node-edit">Edit</button>
          <button mat-stroked-button (click)="enroll()" [disabled]="busy()" data-testid="node-enroll">New enrollment token</button>
          @if (n.draining) {
            <button mat-stroked-button (click)="undrain()" [disabled]="busy()" data-testid="node-undrain">Undrain</button>
          } @else {
            <button mat-stroked-button (click)="drain()" [disabled]="busy()" data-testid="node-drain"><adm-icon name="drain" /> Drain</button>
          }
          <button mat-stroked-button class="danger" (click)="remove()" [disabled]="busy()" data-testid="node-delete"><adm-icon name="delete" /> Delete</button>
        }
      }
    </header>
    @if (loading() || busy()) {
      <mat-progress-bar mode="indeterminate" />
    }
    @if (error(); as e) {
      <adm-notice [error]="e" (retry)="reload()" />
    } @else if (node(); as n) {
      @if (enrollment(); as e) {
        <mat-card appearance="outlined" class="section" data-testid="node-enrollment">
          <mat-card-header><mat-card-title>Enroll the agent again</mat-card-title></mat-card-header>
          <mat-card-content>
            <div class="toolbar-row"><code class="spacer mono" data-testid="node-enrollment-command">{{ enrollCommand() }}</code><adm-copy-button [text]="enrollCommand()" label="Copy command" /></div>
            <p class="hint">Run it as root on the machine (Node.js 20 or newer). One use; expires {{ e.expiresAt | date: 'medium' }}. For a new machine or an agent that lost its data directory.</p>
          </mat-card-content>
        </mat-card>
      }
      @if (editing()) {
        <mat-card appearance="outlined" class="section" data-testid="node-edit-form">
          <mat-card-header><mat-card-title>Edit node</mat-card-title></mat-card-header>
          <mat-card-content>
            <form [formGroup]="form" (ngSubmit)="saveEdit()">
              @if (editError(); as msg) { <p class="form-error" role="alert" data-testid="node-edit-error">{{ msg }}</p> }
              <div class="toolbar-row">
                <mat-form-field><mat-label>Name</mat-label><input matInput formControlName="name" data-testid="node-edit-name" /><mat-error>{{ errorText(form.controls.name) }}</mat-error></mat-form-field>
                <mat-form-field><mat-label>Memory (MB)</mat-label><input matInput type="number" formControlName="memory_mb" data-testid="node-edit-memory" /><mat-error>{{ errorText(form.controls.memory_mb) }}</mat-error></mat-form-field>
                <mat-form-field><mat-label>CPU (%)</mat-label><input matInput type="number" formControlName="cpu_percent" data-testid="node-edit-cpu" /><mat-error>{{ errorText(form.controls.cpu_percent) }}</mat-error></mat-form-field>
                <mat-form-field><mat-label>Storage</mat-label><input matInput formControlName="storage_size" data-testid="node-edit-storage" /><mat-error>{{ errorText(form.controls.storage_size) }}</mat-error></mat-form-field>
                <mat-form-field><mat-label>Tags (comma-separated)</mat-label><input matInput formControlName="tags" data-testid="node-edit-tags" /></mat-form-field>
              </div>
              <div class="form-actions">
                <button mat-button type="button" (click)="editing.set(false)">Cancel</button>
                <button mat-flat-button type="submit" [disabled]="busy()" data-testid="node-edit-save">Save</button>
              </div>
            </form>
          </mat-card-content>
        </mat-card>
      }
      <div class="grid section">
        <mat-card appearance="outlined">
          <mat-card-header><mat-card-title>Machine</mat-card-title></mat-card-header>
          <mat-card-content>
            @if (n.spec; as s) {
              <dl class="kv" data-testid="node-spec">
                <dt>CPU</dt><dd>{{ s.cpu.model }} · {{ s.cpu.cores }} cores</dd>
                <dt>Memory</dt><dd>{{ s.memory_bytes | bytes }}</dd>
                <dt>Disk</dt><dd>{{ s.disk_bytes | bytes }}</dd>
                <dt>OS</dt><dd>{{ s.os }} · {{ s.kernel }}</dd>
                <dt>Agent</dt><dd>{{ s.agent_version }}</dd>
                <dt>Drivers</dt><dd>{{ s.drivers.join(', ') || '—' }}</dd>
                <dt>Last seen</dt><dd>{{ n.lastSeenAt | date: 'medium' }}</dd>
              </dl>
            } @else {
              <adm-notice>The agent has not reported its spec yet. Enroll it with the command shown when the node was created.</adm-notice>
            }
          </mat-card-content>
        </mat-card>
        <mat-card appearance="outlined">
          <mat-card-header><mat-card-title>Allocation</mat-card-title></mat-card-header>
          <mat-card-content>
            <p>Memory {{ n.allocated?.memory_mb | mb }} of {{ n.memory_mb | mb }}</p>
            <mat-progress-bar mode="determinate" [value]="memoryAllocated()" />
            <p>CPU {{ n.allocated?.cpu_percent ?? 0 }}% of {{ n.cpu_percent }}%</p>
            <mat-progress-bar mode="determinate" [value]="cpuAllocated()" />
            <p>Storage {{ n.storage_size }} · tags {{ n.tags.join(', ') || '—' }}</p>
            @if (latest(); as u) {
              <p>Disk used {{ u.disk_used | bytes }} of {{ u.disk_total | bytes }}</p>
              <mat-progress-bar mode="determinate" [value]="diskUsed()" />
            }
          </mat-card-content>
        </mat-card>
      </div>
      <mat-card appearance="outlined" class="section" data-testid="node-servers">
        <mat-card-header><mat-card-title>Servers on this node</mat-card-title></mat-card-header>
        <mat-card-content>
          @for (s of servers(); track s.id) {
            <p class="server-line"><a [routerLink]="['/servers', s.id]" data-testid="node-server-link">{{ s.name }}</a> <adm-state-chip [state]="s.state" /></p>
          } @empty {
            <p class="muted" data-testid="node-servers-empty">No servers run here.</p>
          }
        </mat-card-content>
      </mat-card>
      <mat-card appearance="outlined" class="section">
        <mat-card-header><mat-card-title>Live usage</mat-card-title></mat-card-header>
        <mat-card-content>
          <adm-usage-chart [series]="series" [data]="live.data()" data-testid="node-live-chart" />
        </mat-card-content>
      </mat-card>
      <mat-card appearance="outlined" class="section">
        <mat-card-header>
          <mat-card-title>History</mat-card-title>
          <span class="spacer"></span>
          <mat-button-toggle-group [value]="range()" (change)="showRange($event.value)" aria-label="Range" data-testid="history-range">
            @for (r of ranges; track r) {
              <mat-button-toggle [value]="r">{{ r }}</mat-button-toggle>
            }
          </mat-button-toggle-group>
        </mat-card-header>
        <mat-card-content>
          @if (historyLoading()) {
            <mat-progress-bar mode="indeterminate" />
          }
          @if (historyError(); as e) {
            <adm-notice [error]="e" (retry)="loadHistory()" />
          } @else if (historyMissing()) {
            <adm-notice data-testid="history-empty">No usage history is recorded for this node yet.</adm-notice>
          } @else {
            <adm-usage-chart [series]="series" [data]="history.data()" data-testid="node-history-chart" />
          }
        </mat-card-content>
      </mat-card>
    }
  `,
})
export class NodeDetail {
  private readonly api = inject(NodesApi);
  private readonly auth = inject(Auth);
  private readonly dialog = inject(MatDialog);
  private readonly snack = inject(MatSnackBar);
  private readonly router = inject(Router);
  readonly id = input.required<string>();

  protected readonly node = signal<FleetNode | null>(null);
  protected readonly latest = signal<NodeUsage | null>(null);
  protected readonly loading = signal(false);
  protected readonly busy = signal(false);
  protected readonly error = signal<ApiError | null>(null);
  protected readonly range = signal<HistoryRange>('1h');
  protected readonly historyLoading = signal(false);
  protected readonly historyError = signal<ApiError | null>(null);
  protected readonly historyMissing = signal(false);
  protected readonly ranges: HistoryRange[] = ['1h', '6h', '24h', '7d'];
  protected readonly series = SERIES;
  protected readonly live = new UsageSeries(2);
  protected readonly history = new UsageSeries(2, 2000);
  protected readonly canManage = computed(() => this.auth.can('nodes.manage'));
  protected readonly memoryAllocated = computed(() => percentOf(this.node()?.allocated?.memory_mb, this.node()?.memory_mb) ?? 0);
  protected readonly cpuAllocated = computed(() => percentOf(this.node()?.allocated?.cpu_percent, this.node()?.cpu_percent) ?? 0);
  protected readonly diskUsed = computed(() => percentOf(this.latest()?.disk_used, this.latest()?.disk_total) ?? 0);

  constructor() {
    const realtime = inject(Realtime);
    effect((onCleanup) => {
      const id = this.id();
      untracked(() => this.reload());
      const leave = realtime.join(`node:${id}`);
      const offUsage = realtime.on<NodeUsage>('node.usage', (u) => {
        if ((u.nodeId ?? u.node_id) !== id) return;
        // Pushes may carry only CPU and memory; keep the disk figures of the last full sample.
        this.latest.update((prev) => ({ ...prev, ...u }));
        this.live.push(u.at, sample(u).values);
      });
      const offState = realtime.on<{ nodeId: string; state: FleetNode['state']; spec?: FleetNode['spec'] }>('node.state', (m) => {
        if (m.nodeId === id) this.node.update((n) => (n ? { ...n, state: m.state, spec: m.spec ?? n.spec } : n));
      });
      onCleanup(() => {
        leave();
        offUsage();
        offState();
        clearTimeout(this.specRetry);
      });
    });
  }

  /**
   * The agent's spec report races this page: its push can go out before this page joined the
   * node's room while the read model still lacks it. So an online node without a spec is
   * fetched again, backing off, until the spec shows.
   */
  private specRetry?: ReturnType<typeof setTimeout>;
  private specRetries = 0;

  private awaitSpec(node: FleetNode): void {
    clearTimeout(this.specRetry);
    if (node.spec || node.state !== 'online' || this.specRetries >= 8) return;
    const delay = 500 * 2 ** Math.min(this.specRetries++, 4);
    this.specRetry = setTimeout(async () => {
      const fresh = await this.api.get(node.id).catch(() => null);
      if (!fresh || fresh.id !== this.id()) return;
      this.node.update((n) => (n ? { ...n, spec: n.spec ?? fresh.spec, state: fresh.state } : fresh));
      this.awaitSpec(this.node() ?? fresh);
    }, delay);
  }

  protected async reload(): Promise<void> {
    const id = this.id();
    this.loading.set(true);
    this.error.set(null);
    try {
      const [node, latest] = await Promise.all([this.api.get(id), this.api.metrics(id).catch(() => null)]);
      this.node.set(node);
      this.specRetries = 0;
      this.awaitSpec(node);
      this.latest.set(latest);
      if (latest) this.live.push(latest.at, sample(latest).values);
    } catch (e) {
      this.error.set(toApiError(e));
    } finally {
      this.loading.set(false);
    }
    void this.loadHistory();
    void this.loadServers();
  }

  protected showRange(range: HistoryRange): void {
    this.range.set(range);
    void this.loadHistory();
  }

  protected async loadHistory(): Promise<void> {
    this.historyLoading.set(true);
    this.historyError.set(null);
    try {
      const items = await this.api.history(this.id(), this.range());
      this.historyMissing.set(!items || items.length === 0);
      this.history.reset((items ?? []).map(sample));
    } catch (e) {
      this.historyError.set(toApiError(e));
    } finally {
      this.historyLoading.set(false);
    }
  }

  protected readonly servers = signal<{ id: string; name: string; state: string; owner_id: string }[]>([]);
  protected readonly enrollment = signal<Enrollment | null>(null);
  protected readonly enrollCommand = computed(() => {
    const e = this.enrollment();
    return e ? (e.command ?? `curl -fsSL ${location.origin}/agent/install.sh | sh -s -- --token ${e.token}`) : '';
  });
  protected readonly editing = signal(false);
  protected readonly editError = signal<string | null>(null);
  protected readonly errorText = errorText;
  private readonly fb = inject(NonNullableFormBuilder);
  protected readonly form = this.fb.group({
    name: ['', [Validators.required, Validators.maxLength(64), Validators.pattern(/^[A-Za-z0-9][A-Za-z0-9 _.-]*$/)]],
    memory_mb: [1024, [Validators.required, Validators.min(1)]],
    cpu_percent: [100, [Validators.required, Validators.min(1)]],
    storage_size: ['', Validators.required],
    tags: [''],
  });

  protected async loadServers(): Promise<void> {
    this.servers.set(await this.api.servers(this.id()).catch(() => []));
  }

  protected startEdit(n: FleetNode): void {
    this.form.setValue({ name: n.name, memory_mb: n.memory_mb, cpu_percent: n.cpu_percent, storage_size: String(n.storage_size), tags: n.tags.join(', ') });
    this.editError.set(null);
    this.editing.set(true);
  }

  protected async saveEdit(): Promise<void> {
    if (this.form.invalid) {
      this.form.markAllAsTouched();
      return;
    }
    const v = this.form.getRawValue();
    const tags = v.tags.split(',').map((t) => t.trim()).filter(Boolean);
    this.busy.set(true);
    try {
      const node = await this.api.update(this.id(), { name: v.name, memory_mb: Number(v.memory_mb), cpu_percent: Number(v.cpu_percent), storage_size: v.storage_size, tags });
      this.node.update((n) => (n ? { ...n, ...node } : node));
      this.editing.set(false);
      this.snack.open('Node saved', undefined, { duration: 3000 });
    } catch (e) {
      const err = toApiError(e);
      const unmatched = err.code === 'VALIDATION_FAILED' ? applyServerErrors(this.form, err) : [];
      this.editError.set(unmatched.join(' ') || err.message);
    } finally {
      this.busy.set(false);
    }
  }

  protected async undrain(): Promise<void> {
    await this.act(() => this.api.update(this.id(), { draining: false }), 'Servers may be placed on the node again', () => this.node.update((n) => (n ? { ...n, draining: false } : n)));
  }

  protected async enroll(): Promise<void> {
    const ok = await confirmAction(this.dialog, {
      title: 'Issue a new enrollment token?',
      message: 'For an agent that lost its data directory: it enrolls again with the new token. An agent that still has its credentials keeps them.',
      action: 'Issue token',
    });
    if (ok) await this.act(async () => this.enrollment.set(await this.api.enroll(this.id())), 'Enrollment token issued', () => undefined);
  }

  protected async drain(): Promise<void> {
    const ok = await confirmAction(this.dialog, {
      title: 'Drain this node?',
      message: 'No new servers will be placed on it. Running servers keep running.',
      action: 'Drain',
    });
    if (ok) await this.act(() => this.api.drain(this.id()), 'Node is draining', () => this.node.update((n) => (n ? { ...n, draining: true } : n)));
  }

  protected async remove(): Promise<void> {
    const ok = await confirmAction(this.dialog, {
      title: `Delete ${this.node()?.name}?`,
      message: 'The node is removed from the fleet. A connected agent is told to forget its credentials and stops; they expire on their own in any case.',
      action: 'Delete',
    });
    if (ok) await this.act(() => this.api.remove(this.id()), 'Node deleted', () => void this.router.navigate(['/nodes']));
  }

  private async act(work: () => Promise<unknown>, done: string, after: () => void): Promise<void> {
    this.busy.set(true);
    try {
      await work();
      this.snack.open(done, undefined, { duration: 3000 });
      after();
    } catch (e) {
      const err = toApiError(e);
      this.snack.open(readableMessage(err), 'Dismiss', { duration: 6000 });
    } finally {
      this.busy.set(false);
    }
  }
}
