import { cpus, freemem, hostname, loadavg, release, totalmem, type as osType } from 'node:os';
import { readFile, statfs } from 'node:fs/promises';
import type { NodeSpec, NodeUsageSample, ServerUsageSample } from '@encedeus/contracts';
import { AGENT_VERSION } from '../version';

/**
 * The machine's spec, reported on every boot. Read from the kernel (os, /proc, /etc/os-release) and
 * not through systeminformation: that library alone took about 9 MiB of the agent's RSS (issue 14).
 */
export async function machineSpec(drivers: string[], capabilities: Record<string, unknown>[], runtimes: string[]): Promise<NodeSpec> {
  const [root, distro] = await Promise.all([rootDisk(), osRelease()]);
  const cpu = cpus();
  return {
    cpu: { model: (cpu[0]?.model ?? 'unknown').replace(/\s+/g, ' ').trim(), cores: cpu.length },
    memory_bytes: totalmem(),
    disk_bytes: root.size,
    os: distro ?? osType(),
    kernel: release(),
    hostname: hostname(),
    agent_version: AGENT_VERSION,
    drivers,
    capabilities,
    runtimes,
  };
}

/** `NAME VERSION_ID` of /etc/os-release (e.g. "Debian GNU/Linux 12"). */
export async function osRelease(text?: string): Promise<string | undefined> {
  try {
    text ??= await readFile('/etc/os-release', 'utf8');
  } catch {
    return undefined;
  }
  const field = (name: string) => new RegExp(`^${name}=(.*)$`, 'm').exec(text!)?.[1]?.trim().replace(/^(["'])(.*)\1$/, '$2');
  const name = field('NAME');
  return name ? `${name} ${field('VERSION_ID') ?? ''}`.trim() : undefined;
}

/** CPU time since boot from the first line of /proc/stat: all of it, and the idle part (idle + iowait). */
export async function cpuTimes(text?: string): Promise<{ total: number; idle: number } | undefined> {
  try {
    text ??= await readFile('/proc/stat', 'utf8');
  } catch {
    return undefined;
  }
  const fields = /^cpu\s+(.*)$/m.exec(text)?.[1].trim().split(/\s+/).map(Number);
  if (!fields || fields.length < 4) return undefined;
  // user nice system idle iowait irq softirq steal (guest times are inside user and nice)
  const total = fields.slice(0, 8).reduce((a, b) => a + (b || 0), 0);
  return { total, idle: (fields[3] || 0) + (fields[4] || 0) };
}

/** Memory in use (total − MemAvailable, what `free` shows as used) and total, from /proc/meminfo. */
export async function memoryUse(text?: string): Promise<{ used: number; total: number }> {
  try {
    text ??= await readFile('/proc/meminfo', 'utf8');
  } catch {
    return { used: totalmem() - freemem(), total: totalmem() };
  }
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text!)?.[1]);
  const total = kib('MemTotal') * 1024 || totalmem();
  const available = kib('MemAvailable') * 1024;
  return { used: Number.isFinite(available) ? Math.max(0, total - available) : totalmem() - freemem(), total };
}

/** Samples node usage; network counters are reported as bytes per second since the previous sample. */
export class UsageSampler {
  private lastNet?: { rx: number; tx: number; at: number };
  private lastCpu?: { total: number; idle: number };

  /**
   * Every tick reads files only. systeminformation's fsSize and networkStats run `execSync` (cat
   * /proc/mounts, ip …) on Linux, which blocked the agent's event loop for milliseconds at each
   * sample and showed up as the tail of every power action's latency.
   */
  async sample(nodeId: string, servers: ServerUsageSample[]): Promise<NodeUsageSample> {
    const [cpu, mem, root, { rx, tx }] = await Promise.all([cpuTimes(), memoryUse(), rootDisk(), networkTotals()]);
    const now = Date.now();
    const prev = this.lastNet;
    this.lastNet = { rx, tx, at: now };
    const seconds = prev ? Math.max(0.001, (now - prev.at) / 1000) : 1;
    // CPU busy share since the previous sample (since boot at the first one).
    const before = this.lastCpu ?? { total: 0, idle: 0 };
    if (cpu) this.lastCpu = cpu;
    const busy = cpu && cpu.total > before.total ? (1 - (cpu.idle - before.idle) / (cpu.total - before.total)) * 100 : 0;
    return {
      node_id: nodeId,
      at: now,
      cpu_percent: Math.round(Math.min(100, Math.max(0, busy)) * 100) / 100,
      load: loadavg().map((l) => Math.round(l * 100) / 100),
      memory_used: mem.used,
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
