import { ChangeDetectionStrategy, Component, DestroyRef, computed, inject, signal } from '@angular/core';
import { DatePipe } from '@angular/common';
import { MatCardModule } from '@angular/material/card';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { RouterLink } from '@angular/router';
import { ApiError, toApiError } from '../core/api-error';
import { alertTargetLabel } from '../core/alert-toasts';
import { Auth } from '../core/auth';
import { Realtime } from '../core/realtime';
import { FleetNode, NodeUsage, NodesApi } from '../nodes/nodes-api';
import { ServerState, ServersApi } from '../servers/servers-api';
import type { AlertRuleView } from '@encedeus/contracts/alerts';
import { EventsApi, FeedItem, describeActor, subjectLabel } from '../shared/events-api';
import { MetricsApi } from '../shared/metrics-api';
import { PercentValuePipe } from '../shared/format';
import { Notice } from '../shared/notice';
import { StateChip } from '../shared/state-chip';
import { ChartSeries, UsageChart } from '../shared/usage-chart';
import { UsageSeries, percentOf } from '../shared/usage-series';

const STATES: ServerState[] = ['running', 'starting', 'stopping', 'installing', 'install_failed', 'offline', 'crashed'];
const SERIES: ChartSeries[] = [
  { label: 'CPU', color: '#1e88e5' },
  { label: 'Memory', color: '#8e24aa' },
];
const MAX_NODES = 12;
const MAX_EVENTS = 20;

interface NodeCard {
  node: FleetNode;
  series: UsageSeries;
  latest: NodeUsage | null;
  memoryPercent: number | null;
}

/** The fleet at a glance: nodes with live usage, servers by state, and the latest events. */
@Component({
  selector: 'adm-dashboard',
  imports: [MatCardModule, MatProgressBarModule, RouterLink, DatePipe, PercentValuePipe, Notice, StateChip, UsageChart],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <header class="page-head"><h1>Dashboard</h1></header>
    @if (loading()) {
      <mat-progress-bar mode="indeterminate" />
    }
    <section class="section" data-testid="server-counts">
      <h2>Servers</h2>
      @if (serversError(); as e) {
        <adm-notice [error]="e" (retry)="load()" />
      } @else {
        <div class="counts">
          <a class="count total" routerLink="/servers" data-testid="count-total"><strong>{{ totalServers() }}</strong><span>total</span></a>
          @for (c of counts(); track c.state) {
            <a class="count" [routerLink]="'/servers'" [attr.data-testid]="'count-' + c.state">
              <strong>{{ c.count }}</strong><adm-state-chip [state]="c.state" />
            </a>
          }
        </div>
      }
    </section>
    @if (canNodes()) {
      <section class="section">
        <h2>Nodes</h2>
        @if (nodesError(); as e) {
          <adm-notice [error]="e" (retry)="load()" />
        } @else {
          <div class="grid">
            @for (c of cards(); track c.node.id) {
              <mat-card appearance="outlined" data-testid="dashboard-node" [attr.data-node-id]="c.node.id">
                <mat-card-header>
                  <mat-card-title><a [routerLink]="['/nodes', c.node.id]">{{ c.node.name }}</a></mat-card-title>
                  <span class="spacer"></span>
                  <adm-state-chip data-testid="node-state" [state]="c.node.state" />
                </mat-card-header>
                <mat-card-content>
                  <p class="hint">CPU {{ c.latest?.cpu_percent | pct }} · memory {{ c.memoryPercent | pct }}</p>
                  <adm-usage-chart [series]="series" [data]="c.series.data()" [height]="120" />
                </mat-card-content>
              </mat-card>
            } @empty {
              <adm-notice>No nodes yet. <a routerLink="/nodes">Add the first one.</a></adm-notice>
            }
          </div>
        }
      </section>
    }
    @if (canNodes()) {
      <section class="section" data-testid="fleet-overview">
        <h2>Fleet, last 24 h</h2>
        @if (fleetError(); as e) {
          <adm-notice [error]="e" (retry)="loadFleet()" />
        } @else {
          <mat-card appearance="outlined">
            <mat-card-content>
              <adm-usage-chart [series]="fleetSeries" [data]="fleet.data()" data-testid="fleet-chart" />
            </mat-card-content>
          </mat-card>
        }
      </section>
    }
    @if (canMetrics()) {
      <section class="section" data-testid="firing-alerts">
        <h2>Alerts</h2>
        @if (alertsError(); as e) {
          <adm-notice [error]="e" (retry)="loadAlerts()" />
        } @else {
          <ol class="events">
            @for (a of alertRows(); track a.id) {
              <li data-testid="alert-row">
                <span class="time">{{ a.raised_at | date: 'mediumTime' }}</span>
                <strong>{{ a.name }}</strong>
                <code class="type">{{ a.field }} {{ a.comparator }} {{ a.threshold }}</code>
                <span class="subject" [title]="a.target">{{ a.targetLabel }}</span>
              </li>
            } @empty {
              <li class="hint empty">No alert is raised.</li>
            }
          </ol>
        }
      </section>
    }
    @if (canEvents()) {
      <section class="section">
        <h2>Recent events</h2>
        @if (eventsError(); as e) {
          <adm-notice [error]="e" (retry)="load()" />
        } @else {
          <ol class="events" data-testid="recent-events">
            @for (item of events(); track item.sequence) {
              <li data-testid="event-row">
                <span class="time">{{ item.event.time | date: 'mediumTime' }}</span>
                <code class="type">{{ item.event.type }}</code>
                <span class="subject" [title]="item.event.subject">{{ item.subject }}</span>
                <span class="actor" [title]="item.event.actor">{{ item.actor }}</span>
              </li>
            } @empty {
              <li class="hint empty">Nothing has happened yet.</li>
            }
          </ol>
        }
      </section>
    }
  `,
  styles: `
    h2 { font: var(--mat-sys-title-medium); margin: 0 0 12px; }
    .counts { display: flex; flex-wrap: wrap; gap: 12px; }
    .count { display: flex; flex-direction: column; align-items: center; gap: 4px; min-width: 96px; padding: 12px 16px; border-radius: 12px;
      border: 1px solid var(--mat-sys-outline-variant); color: inherit; text-decoration: none; }
    .count strong { font-size: 28px; line-height: 1.1; }
    .count.total { background: var(--mat-sys-primary-container); color: var(--mat-sys-on-primary-container); }
    mat-card-header { align-items: center; }
    .events { list-style: none; margin: 0; padding: 0; border: 1px solid var(--mat-sys-outline-variant); border-radius: 12px; }
    .events li { display: grid; grid-template-columns: 90px minmax(160px, 220px) 1fr minmax(100px, 200px); gap: 12px; padding: 8px 12px;
      border-bottom: 1px solid var(--mat-sys-outline-variant); font-size: 13px; }
    .events li:last-child { border-bottom: 0; }
    .events li.empty { display: block; }
    .time, .actor { color: var(--mat-sys-on-surface-variant); }
    .subject, .actor { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  `,
})
export class Dashboard {
  private readonly auth = inject(Auth);
  private readonly nodesApi = inject(NodesApi);
  private readonly serversApi = inject(ServersApi);
  private readonly eventsApi = inject(EventsApi);
  private readonly realtime = inject(Realtime);
  private readonly metricsApi = inject(MetricsApi);

  protected readonly canMetrics = computed(() => this.auth.can('metrics.read'));
  /** Every node together (`GET /metrics?target=fleet`): CPU averaged, memory as a share of the fleet's. */
  protected readonly fleet = new UsageSeries(2, 1000);
  protected readonly fleetSeries: ChartSeries[] = [
    { label: 'CPU (avg)', color: '#3f51b5' },
    { label: 'Memory', color: '#009688' },
  ];
  protected readonly fleetError = signal<ApiError | null>(null);
  protected readonly alerts = signal<AlertRuleView[]>([]);
  /** The raised alerts with their target named (`server e2e-echo`), or a short id where the gateway gave no name. */
  protected readonly alertRows = computed(() => this.alerts().map((a) => ({ ...a, targetLabel: alertTargetLabel(a.target, a.target_name) })));
  protected readonly alertsError = signal<ApiError | null>(null);
  protected readonly canNodes = computed(() => this.auth.can('nodes.read'));
  protected readonly canEvents = computed(() => this.auth.can('events.read'));
  protected readonly loading = signal(false);
  protected readonly cards = signal<NodeCard[]>([]);
  private readonly serverStates = signal<Map<string, ServerState>>(new Map());
  protected readonly events = signal<(FeedItem & { actor: string; subject: string })[]>([]);
  protected readonly nodesError = signal<ApiError | null>(null);
  protected readonly serversError = signal<ApiError | null>(null);
  protected readonly eventsError = signal<ApiError | null>(null);
  protected readonly series = SERIES;
  protected readonly totalServers = computed(() => this.serverStates().size);
  protected readonly counts = computed(() => {
    const states = [...this.serverStates().values()];
    return STATES.map((state) => ({ state, count: states.filter((s) => s === state).length }));
  });
  private nodeRooms: (() => void)[] = [];

  constructor() {
    const offs = [
      this.realtime.join('fleet'),
      this.realtime.on<{ nodeId: string; state: FleetNode['state'] }>('node.state', (m) =>
        this.cards.update((cs) => cs.map((c) => (c.node.id === m.nodeId ? { ...c, node: { ...c.node, state: m.state } } : c))),
      ),
      this.realtime.on<NodeUsage>('node.usage', (u) => this.addUsage(u)),
      this.realtime.on<{ serverId: string; state: ServerState }>('server.state', (m) =>
        this.serverStates.update((map) => new Map(map).set(m.serverId, m.state)),
      ),
    ];
    if (this.canEvents()) {
      offs.push(this.realtime.join('events'), this.realtime.on<FeedItem>('event', (item) => this.addEvent(item)));
    }
    inject(DestroyRef).onDestroy(() => [...offs, ...this.nodeRooms].forEach((off) => off()));
    void this.load();
  }

  protected async load(): Promise<void> {
    this.loading.set(true);
    await Promise.all([this.loadServers(), this.canNodes() ? this.loadNodes() : null, this.canEvents() ? this.loadEvents() : null, this.canMetrics() ? this.loadAlerts() : null, this.canNodes() ? this.loadFleet() : null]);
    this.loading.set(false);
  }

  private async loadServers(): Promise<void> {
    this.serversError.set(null);
    try {
      const servers = await this.serversApi.firstPage();
      this.serverStates.set(new Map(servers.map((s) => [s.id, s.state])));
    } catch (e) {
      this.serversError.set(toApiError(e));
    }
  }

  private async loadNodes(): Promise<void> {
    this.nodesError.set(null);
    try {
      const nodes = (await this.nodesApi.firstPage()).slice(0, MAX_NODES);
      this.nodeRooms.forEach((leave) => leave());
      // The fleet room may carry only state; each node's own room is sure to carry its usage.
      this.nodeRooms = nodes.map((n) => this.realtime.join(`node:${n.id}`));
      this.cards.set(nodes.map((node) => ({ node, series: new UsageSeries(2, 60), latest: null, memoryPercent: null })));
      // Seed each chart with the last quarter hour from the usage history; live pushes continue it.
      await Promise.all(nodes.map((n) => this.seedUsage(n.id)));
    } catch (e) {
      this.nodesError.set(toApiError(e));
    }
  }

  private async loadEvents(): Promise<void> {
    this.eventsError.set(null);
    try {
      const items = await this.eventsApi.recent(MAX_EVENTS);
      const sorted = [...items].sort((a, b) => b.sequence - a.sequence);
      this.events.set(sorted.map((i) => ({ ...i, actor: i.actorName ?? describeActor(i.event?.actor), subject: subjectLabel(i.event.subject, i.subjectName) })));
    } catch (e) {
      this.eventsError.set(toApiError(e));
    }
  }

  private async seedUsage(nodeId: string): Promise<void> {
    const items = (await this.nodesApi.history(nodeId, '1h').catch(() => null)) ?? [];
    const card = this.cards().find((c) => c.node.id === nodeId);
    // A live push that arrived meanwhile wins: history only fills a chart that is still empty.
    if (!card || items.length === 0 || card.series.data()[0].length > 0) return;
    card.series.reset(items.map((u) => ({ at: u.at, values: [u.cpu_percent ?? null, percentOf(u.memory_usage, u.memory_limit)] })));
    const latest = items[items.length - 1];
    this.cards.update((cs) => cs.map((c) => (c === card ? { ...c, latest, memoryPercent: percentOf(latest.memory_usage, latest.memory_limit) } : c)));
  }

  private addUsage(u: NodeUsage): void {
    const id = u.nodeId ?? u.node_id;
    const card = this.cards().find((c) => c.node.id === id);
    if (!card) return;
    const memoryPercent = percentOf(u.memory_usage, u.memory_limit);
    card.series.push(u.at, [u.cpu_percent ?? null, memoryPercent]);
    this.cards.update((cs) => cs.map((c) => (c === card ? { ...c, latest: u, memoryPercent } : c)));
  }

  protected async loadFleet(): Promise<void> {
    this.fleetError.set(null);
    try {
      const series = await this.metricsApi.history('fleet', '24h');
      this.fleet.reset(series.points.map((p) => ({ at: p.t, values: [p.cpu_percent, percentOf(p.memory_bytes, p.memory_limit_bytes)] })));
    } catch (e) {
      this.fleetError.set(toApiError(e));
    }
  }

  /** The raised alerts (metrics service), again after every alert event of the feed. */
  protected async loadAlerts(): Promise<void> {
    this.alertsError.set(null);
    try {
      this.alerts.set(await this.metricsApi.firingAlerts());
    } catch (e) {
      this.alertsError.set(toApiError(e));
    }
  }

  private addEvent(item: FeedItem): void {
    if (item.event?.type.startsWith('alert.') && this.canMetrics()) void this.loadAlerts();
    // A push carries no names: it borrows those the loaded events had for the same subject and actor.
    this.events.update((list) => {
      if (list.some((e) => e.sequence === item.sequence)) return list;
      const subjectName = list.find((e) => e.subjectName && e.event.subject === item.event.subject)?.subjectName;
      const actor = list.find((e) => e.actorName && e.event.actor === item.event.actor)?.actorName ?? describeActor(item.event?.actor);
      return [{ ...item, subjectName, actor, subject: subjectLabel(item.event.subject, subjectName) }, ...list].slice(0, MAX_EVENTS);
    });
  }
}
