import { hostname } from 'node:os';
import { readFile, statfs } from 'node:fs/promises';
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

  /**
   * Every tick reads files only. systeminformation's fsSize and networkStats run `execSync` (cat
   * /proc/mounts, ip …) on Linux, which blocked the agent's event loop for milliseconds at each
   * sample and showed up as the tail of every power action's latency.
   */
  async sample(nodeId: string, servers: ServerUsageSample[]): Promise<NodeUsageSample> {
    const [load, mem, root, { rx, tx }] = await Promise.all([si.currentLoad(), si.mem(), rootDisk(), networkTotals()]);
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
      disk_used: root.used,
      disk_total: root.size,
      net_rx: prev ? Math.max(0, Math.round((rx - prev.rx) / seconds)) : 0,
      net_tx: prev ? Math.max(0, Math.round((tx - prev.tx) / seconds)) : 0,
      servers,
    };
  }
}

/** Size and use of the root filesystem, like `df /` (blocks the superuser keeps count as used). */
async function rootDisk(): Promise<{ size: number; used: number }> {
  try {
    const fs = await statfs('/');
    return { size: fs.blocks * fs.bsize, used: (fs.blocks - fs.bfree) * fs.bsize };
  } catch {
    return { size: 0, used: 0 };
  }
}

/** Bytes received and sent by every interface but loopback since boot, from /proc/net/dev. */
export async function networkTotals(text?: string): Promise<{ rx: number; tx: number }> {
  try {
    text ??= await readFile('/proc/net/dev', 'utf8');
  } catch {
    return { rx: 0, tx: 0 };
  }
  let rx = 0;
  let tx = 0;
  for (const line of text.split('\n').slice(2)) {
    const [name, counters] = line.split(':');
    if (!counters || name.trim() === 'lo') continue;
    const fields = counters.trim().split(/\s+/).map(Number);
    rx += fields[0] || 0;
    tx += fields[8] || 0;
  }
  return { rx, tx };
}
