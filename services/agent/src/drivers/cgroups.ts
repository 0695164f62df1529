import { existsSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

/** Which cgroup hierarchy the agent can write to. */
export type CgroupVersion = 'v1' | 'v2';

/** What cgroups can enforce for the agent on this machine; detected once per process. */
export interface CgroupSupport {
  /** Usable hierarchy, or 'none'. */
  version: CgroupVersion | 'none';
  /** A memory limit can be set and is enforced by the OOM killer. */
  memory: boolean;
  /** A CPU quota can be set. */
  cpu: boolean;
  /** A process/thread count limit (`pids.max`) can be set. */
  pids: boolean;
  /** Why something is missing. */
  notes: string[];
}

/** Folders of one cgroup, per controller on v1 or the single unified folder on v2. */
export interface CgroupDirs {
  /** v1 memory controller folder. */
  memory?: string;
  /** v1 cpu controller folder. */
  cpu?: string;
  /** v1 cpuacct controller folder (CPU time used). */
  cpuacct?: string;
  /** v1 pids controller folder. */
  pids?: string;
  /** v2 folder. */
  unified?: string;
}

/** Limits a cgroup applies; undefined or 0 means unlimited. */
export interface CgroupLimits {
  /** Memory (RAM + swap) in bytes. */
  memoryBytes?: number;
  /** CPU quota in percent of one core. */
  cpuPercent?: number;
  /** Most tasks (processes and threads) at once; a fork beyond it fails with EAGAIN. */
  pidsMax?: number;
}

interface Mount {
  root: string;
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

const CPU_PERIOD_US = 100_000;
const V1_CONTROLLERS = ['memory', 'cpu', 'cpuacct', 'pids'] as const;

/** Parses /proc/self/mountinfo (see proc(5)). */
export function parseMountInfo(text: string): Mount[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [left, right] = line.split(' - ');
      const fields = left.split(' ');
      const [fsType, , superOptions = ''] = right.split(' ');
      return { root: fields[3], mountPoint: fields[4], fsType, superOptions: superOptions.split(',') };
    });
}

/** Parses /proc/self/cgroup into controller → path; the v2 entry has the key ''. */
export function parseProcCgroup(text: string): Map<string, string> {
  const paths = new Map<string, string>();
  for (const line of text.split('\n').filter(Boolean)) {
    const [, controllers, path] = line.match(/^\d+:([^:]*):(.*)$/) ?? [];
    if (path === undefined) continue;
    if (controllers === '') paths.set('', path);
    for (const controller of controllers.split(',')) if (controller) paths.set(controller, path);
  }
  return paths;
}

/** Folders of the agent's own cgroups, where its children's cgroups are made (so parent limits still apply). */
async function ownCgroupDirs(): Promise<{ v1: CgroupDirs; v2?: { dir: string; controllers: string[] } }> {
  const [mountInfo, procCgroup] = await Promise.all([
    readFile('/proc/self/mountinfo', 'utf8'),
    readFile('/proc/self/cgroup', 'utf8'),
  ]);
  const mounts = parseMountInfo(mountInfo);
  const paths = parseProcCgroup(procCgroup);
  const under = (mount: Mount, path: string) => join(mount.mountPoint, relative(mount.root, path));
  const v1: CgroupDirs = {};
  for (const controller of V1_CONTROLLERS) {
    const mount = mounts.find((m) => m.fsType === 'cgroup' && m.superOptions.includes(controller));
    const path = paths.get(controller);
    if (mount && path !== undefined) v1[controller] = under(mount, path);
  }
  const unifiedMount = mounts.find((m) => m.fsType === 'cgroup2');
  const unifiedPath = paths.get('');
  if (!unifiedMount || unifiedPath === undefined) return { v1 };
  const dir = under(unifiedMount, unifiedPath);
  const controllers = (await readFile(join(dir, 'cgroup.controllers'), 'utf8').catch(() => '')).trim().split(/\s+/);
  return { v1, v2: { dir, controllers } };
}

let detected: Promise<{ support: CgroupSupport; base: CgroupDirs }> | undefined;

/** Detects, once, which hierarchy the agent can create limited cgroups in (v2 preferred when it has memory). */
export function cgroupSupport(): Promise<CgroupSupport> {
  return detect().then((d) => d.support);
}

function detect(): Promise<{ support: CgroupSupport; base: CgroupDirs }> {
  detected ??= (async () => {
    const notes: string[] = [];
    const own = await ownCgroupDirs().catch((error) => {
      notes.push(`cannot read own cgroups: ${(error as Error).message}`);
      return { v1: {} as CgroupDirs, v2: undefined };
    });
    if (own.v2 && own.v2.controllers.includes('memory')) {
      const base: CgroupDirs = { unified: join(own.v2.dir, 'encedeus') };
      try {
        await probe('v2', base);
        return { support: { version: 'v2', memory: true, cpu: own.v2.controllers.includes('cpu'), pids: own.v2.controllers.includes('pids'), notes }, base };
      } catch (error) {
        notes.push(`cgroup v2 at ${own.v2.dir} not writable: ${(error as Error).message}`);
      }
    } else if (own.v2) {
      notes.push('cgroup v2 has no memory controller here (hybrid layout)');
    }
    const base: CgroupDirs = {};
    for (const controller of V1_CONTROLLERS) {
      const dir = own.v1[controller];
      if (!dir) continue;
      try {
        await probe('v1', { [controller]: join(dir, 'encedeus') });
        base[controller] = join(dir, 'encedeus');
      } catch (error) {
        notes.push(`cgroup v1 ${controller} not writable: ${(error as Error).message}`);
      }
    }
    const memory = !!base.memory;
    const cpu = !!base.cpu;
    const pids = !!base.pids;
    if (!memory && !cpu && !pids) return { support: { version: 'none', memory: false, cpu: false, pids: false, notes }, base };
    return { support: { version: 'v1', memory, cpu, pids, notes }, base };
  })();
  return detected;
}

/** Creates and removes a throw-away child with a limit, proving we may write here. */
async function probe(version: CgroupVersion, base: CgroupDirs): Promise<void> {
  const name = `probe-${process.pid}-${Date.now()}`;
  const group = await Cgroup.make(version, base, name);
  try {
    await group.setLimits({ memoryBytes: 64 * 1024 * 1024, pidsMax: 64 });
  } finally {
    await group.destroy();
  }
}

async function writeValue(file: string, value: string | number): Promise<void> {
  await writeFile(file, String(value));
}

async function readNumber(file: string): Promise<number | undefined> {
  try {
    return Number((await readFile(file, 'utf8')).trim());
  } catch {
    return undefined;
  }
}

async function readKeyed(file: string, key: string): Promise<number | undefined> {
  try {
    const line = (await readFile(file, 'utf8')).split('\n').find((l) => l.startsWith(`${key} `));
    return line === undefined ? undefined : Number(line.slice(key.length + 1));
  } catch {
    return undefined;
  }
}

/** One cgroup the agent made for a server or a job; every method works on v1 and v2. */
export class Cgroup {
  private constructor(
    /** Hierarchy. */
    readonly version: CgroupVersion,
    /** Folders per controller. */
    readonly dirs: CgroupDirs,
  ) {}

  /**
   * Creates (or reopens) `<agent's cgroup>/encedeus/<name>` with limits; undefined when cgroups are not usable here.
   * @param name may contain '/' (e.g. `servers/<id>`)
   */
  static async create(name: string, limits: CgroupLimits): Promise<Cgroup | undefined> {
    const { support, base } = await detect();
    if (support.version === 'none') return undefined;
    const group = await Cgroup.make(support.version, base, name);
    await group.setLimits(limits);
    return group;
  }

  /** Reopens a cgroup recorded by `toJSON` (after an agent restart); undefined when it is gone. */
  static open(saved: { version: CgroupVersion; dirs: CgroupDirs } | undefined): Cgroup | undefined {
    if (!saved || !Object.values(saved.dirs).some((dir) => dir && existsSync(dir))) return undefined;
    return new Cgroup(saved.version, saved.dirs);
  }

  /** @internal makes the folders; on v2 enables memory, cpu and pids for children at each level. */
  static async make(version: CgroupVersion, base: CgroupDirs, name: string): Promise<Cgroup> {
    if (version === 'v2') {
      const parts = name.split('/');
      let dir = base.unified!;
      await mkdir(dir, { recursive: true });
      // v2 lets a child use a controller only when every ancestor enabled it in subtree_control.
      await enableControllers(join(dir, '..'));
      for (const part of parts) {
        await enableControllers(dir);
        dir = join(dir, part);
        await mkdir(dir, { recursive: true });
      }
      return new Cgroup('v2', { unified: dir });
    }
    const dirs: CgroupDirs = {};
    for (const controller of V1_CONTROLLERS) {
      const parent = base[controller];
      if (!parent) continue;
      dirs[controller] = join(parent, name);
      await mkdir(dirs[controller]!, { recursive: true });
    }
    return new Cgroup('v1', dirs);
  }

  /** What to save so `open` finds this cgroup again. */
  toJSON(): { version: CgroupVersion; dirs: CgroupDirs } {
    return { version: this.version, dirs: this.dirs };
  }

  /** The `cgroup.procs` files a process writes its pid into to join (all controllers). */
  procsFiles(): string[] {
    return Object.values(this.dirs)
      .filter((dir): dir is string => !!dir)
      .map((dir) => join(dir, 'cgroup.procs'));
  }

  /** Applies limits; 0/undefined removes one. */
  async setLimits(limits: CgroupLimits): Promise<void> {
    const memory = limits.memoryBytes && limits.memoryBytes > 0 ? limits.memoryBytes : undefined;
    const cpu = limits.cpuPercent && limits.cpuPercent > 0 ? Math.max(1000, Math.round((limits.cpuPercent / 100) * CPU_PERIOD_US)) : undefined;
    const pids = limits.pidsMax && limits.pidsMax > 0 ? Math.floor(limits.pidsMax) : undefined;
    if (this.version === 'v2') {
      const dir = this.dirs.unified!;
      await writeValue(join(dir, 'memory.max'), memory ?? 'max');
      await writeValue(join(dir, 'memory.swap.max'), memory === undefined ? 'max' : 0).catch(() => undefined);
      if (existsSync(join(dir, 'cpu.max'))) await writeValue(join(dir, 'cpu.max'), `${cpu ?? 'max'} ${CPU_PERIOD_US}`);
      if (existsSync(join(dir, 'pids.max'))) await writeValue(join(dir, 'pids.max'), pids ?? 'max');
      return;
    }
    if (this.dirs.memory) {
      const memsw = join(this.dirs.memory, 'memory.memsw.limit_in_bytes');
      const hasMemsw = existsSync(memsw);
      // memsw must stay >= the memory limit, so lift it before changing the limit, then pin it to the limit (no swap).
      if (hasMemsw) await writeValue(memsw, -1);
      await writeValue(join(this.dirs.memory, 'memory.limit_in_bytes'), memory ?? -1);
      if (hasMemsw && memory !== undefined) await writeValue(memsw, memory);
    }
    if (this.dirs.cpu) {
      await writeValue(join(this.dirs.cpu, 'cpu.cfs_period_us'), CPU_PERIOD_US);
      await writeValue(join(this.dirs.cpu, 'cpu.cfs_quota_us'), cpu ?? -1);
    }
    if (this.dirs.pids) await writeValue(join(this.dirs.pids, 'pids.max'), pids ?? 'max');
  }

  /** Memory in use without inactive page cache (what docker reports); undefined without a memory controller. */
  async memoryBytes(): Promise<number | undefined> {
    if (this.version === 'v2') {
      const usage = await readNumber(join(this.dirs.unified!, 'memory.current'));
      const inactive = (await readKeyed(join(this.dirs.unified!, 'memory.stat'), 'inactive_file')) ?? 0;
      return usage === undefined ? undefined : Math.max(0, usage - inactive);
    }
    if (!this.dirs.memory) return undefined;
    const usage = await readNumber(join(this.dirs.memory, 'memory.usage_in_bytes'));
    const inactive = (await readKeyed(join(this.dirs.memory, 'memory.stat'), 'total_inactive_file')) ?? 0;
    return usage === undefined ? undefined : Math.max(0, usage - inactive);
  }

  /** CPU time used by all members, in nanoseconds; undefined without a CPU accounting controller. */
  async cpuNanos(): Promise<number | undefined> {
    if (this.version === 'v2') {
      const usec = await readKeyed(join(this.dirs.unified!, 'cpu.stat'), 'usage_usec');
      return usec === undefined ? undefined : usec * 1000;
    }
    return this.dirs.cpuacct ? readNumber(join(this.dirs.cpuacct, 'cpuacct.usage')) : undefined;
  }

  /** How many times the OOM killer killed a member since the cgroup was made. */
  async oomKills(): Promise<number> {
    if (this.version === 'v2') return (await readKeyed(join(this.dirs.unified!, 'memory.events'), 'oom_kill')) ?? 0;
    return this.dirs.memory ? ((await readKeyed(join(this.dirs.memory, 'memory.oom_control'), 'oom_kill')) ?? 0) : 0;
  }

  /** Pids of every member (including ones that left the process group). */
  async pids(): Promise<number[]> {
    const all = new Set<number>();
    for (const file of this.procsFiles()) {
      const text = await readFile(file, 'utf8').catch(() => '');
      for (const pid of text.split('\n').filter(Boolean)) all.add(Number(pid));
    }
    return [...all];
  }

  /** SIGKILLs every member, repeating while members appear (a fork racing the kill). */
  async killAll(): Promise<void> {
    for (let round = 0; round < 20; round++) {
      const pids = await this.pids();
      if (pids.length === 0) return;
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Kills what is left and removes the folders; removing a cgroup that is gone is not an error. */
  async destroy(): Promise<void> {
    await this.killAll();
    for (const dir of Object.values(this.dirs).filter((d): d is string => !!d)) {
      // A killed task leaves the cgroup a moment after it dies; rmdir says EBUSY until then.
      for (let attempt = 0; ; attempt++) {
        try {
          await rmdir(dir);
          break;
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') break;
          if (code !== 'EBUSY' || attempt >= 50) throw error;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    }
  }
}

async function enableControllers(dir: string): Promise<void> {
  const available = (await readFile(join(dir, 'cgroup.controllers'), 'utf8').catch(() => '')).trim().split(/\s+/);
  const wanted = ['memory', 'cpu', 'pids'].filter((c) => available.includes(c));
  if (wanted.length > 0) await writeValue(join(dir, 'cgroup.subtree_control'), wanted.map((c) => `+${c}`).join(' '));
}
