import { hostname } from 'node:os';
import si from 'systeminformation';
import type { NodeSpec, NodeUsageSample, ServerUsageSample } from '@encedeus/contracts';
import { AGENT_VERSION } from '../version';

/** The machine's spec, reported on every boot. */
export async function machineSpec(drivers: string[], capabilities: Record<string, unknown>[], runtimes: string[]): Promise<NodeSpec> {
  const [cpu, mem, os, disks] = await Promise.all([si.cpu(), si.mem(), si.osInfo(), si.fsSize().catch(() => [])]);
  const root = disks.find((d) => d.mount === '/') ?? disks[0];
  return {
    cpu: { model: `${cpu.manufacturer} ${cpu.brand}`.trim(), cores: cpu.cores },
    memory_bytes: mem.total,
    disk_bytes: root?.size ?? 0,
    os: `${os.distro} ${os.release}`.trim(),
    kernel: os.kernel,
    hostname: hostname(),
    agent_version: AGENT_VERSION,
    drivers,
    capabilities,
    runtimes,
  };
}

/** Samples node usage; network counters are reported as bytes per second since the previous sample. */
export class UsageSampler {
  private lastNet?: { rx: number; tx: number; at: number };

  async sample(nodeId: string, servers: ServerUsageSample[]): Promise<NodeUsageSample> {
    const [load, mem, disks, net] = await Promise.all([
      si.currentLoad(),
      si.mem(),
      si.fsSize().catch(() => []),
      si.networkStats('*').catch(() => []),
    ]);
    const root = disks.find((d) => d.mount === '/') ?? disks[0];
    const rx = net.reduce((s, n) => s + (n.rx_bytes ?? 0), 0);
    const tx = net.reduce((s, n) => s + (n.tx_bytes ?? 0), 0);
    const now = Date.now();
    const prev = this.lastNet;
    this.lastNet = { rx, tx, at: now };
    const seconds = prev ? Math.max(0.001, (now - prev.at) / 1000) : 1;
    const os = await import('node:os');
    return {
      node_id: nodeId,
      at: now,
      cpu_percent: Math.round(load.currentLoad * 100) / 100,
      load: os.loadavg().map((l) => Math.round(l * 100) / 100),
      memory_used: mem.active,
      memory_total: mem.total,
      disk_used: root?.used ?? 0,
      disk_total: root?.size ?? 0,
      net_rx: prev ? Math.max(0, Math.round((rx - prev.rx) / seconds)) : 0,
      net_tx: prev ? Math.max(0, Math.round((tx - prev.tx) / seconds)) : 0,
      servers,
    };
  }
}
