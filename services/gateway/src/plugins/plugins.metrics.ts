import { Injectable, type OnModuleInit } from '@nestjs/common';
import { Counter, Gauge } from 'prom-client';
import type { InstalledPluginView } from '@encedeus/contracts';
import { CommandClient } from '@encedeus/messaging';
import { metricsRegistry } from '../observability/metrics';

let source: (() => Promise<InstalledPluginView[]>) | undefined;

// Registered once per process (several gateways may share one in tests); each reads the latest source.
new Gauge({
  name: 'encedeus_plugin_lag',
  help: "Events of an installed plugin's filter not yet handled (its durable's pending + in flight)",
  labelNames: ['plugin', 'id', 'state'],
  registers: [metricsRegistry],
  async collect() {
    const plugins = await source?.().catch(() => undefined);
    this.reset();
    for (const p of plugins ?? []) if (p.lag !== null) this.set({ plugin: p.name, id: p.id, state: p.state }, p.lag);
  },
});
new Counter({
  name: 'encedeus_plugin_dead_letters_total',
  help: 'Events an installed plugin failed every attempt of, parked in its dead-letter list',
  labelNames: ['plugin', 'id'],
  registers: [metricsRegistry],
  async collect() {
    const plugins = await source?.().catch(() => undefined);
    this.reset();
    for (const p of plugins ?? []) this.inc({ plugin: p.name, id: p.id }, p.dead_letters);
  },
});

/** Feeds the plugin gauges of `GET /metrics` from the plugins service at scrape time (1 s budget; a plugins service that does not answer leaves them empty). */
@Injectable()
export class PluginMetrics implements OnModuleInit {
  constructor(private readonly commands: CommandClient) {}

  onModuleInit(): void {
    source = () => this.commands.send<InstalledPluginView[]>('plugins', 'installed', {}, { actor: 'service:gateway' }, { timeoutMs: 1000 });
  }
}
