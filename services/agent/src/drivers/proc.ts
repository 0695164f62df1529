import { readdir, readFile } from 'node:fs/promises';

// Linux x86_64/arm64 defaults; both are fixed for the lifetime of the kernel.
const PAGE_SIZE = 4096;
/** Kernel clock ticks per second (USER_HZ) used by /proc/<pid>/stat times. */
export const CLOCK_TICKS_PER_SECOND = 100;

/** The fields of /proc/<pid>/stat the agent uses. */
export interface ProcStat {
  /** Process id. */
  pid: number;
  /** One-letter state; 'Z' is a zombie, 'X' dead. */
  state: string;
  /** Parent pid. */
  ppid: number;
  /** Process group id. */
  pgrp: number;
  /** User + system CPU time in clock ticks. */
  cpuTicks: number;
  /** Start time in clock ticks after boot; with the pid it names one process (pids get reused). */
  startTime: number;
  /** Resident set size in bytes. */
  rssBytes: number;
}

/** Parses one /proc/<pid>/stat line. */
export function parseProcStat(pid: number, line: string): ProcStat {
  // comm (field 2) may hold spaces and parentheses, so split after the last ')'.
  const fields = line.slice(line.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 of proc(5).
  return {
    pid,
    state: fields[0],
    ppid: Number(fields[1]),
    pgrp: Number(fields[2]),
    cpuTicks: Number(fields[11]) + Number(fields[12]),
    startTime: Number(fields[19]),
    rssBytes: Number(fields[21]) * PAGE_SIZE,
  };
}

/** Reads /proc/<pid>/stat; undefined when the process is gone. */
export async function readProcStat(pid: number): Promise<ProcStat | undefined> {
  try {
    return parseProcStat(pid, await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Whether pid still names a live (non-zombie) process, and the same one when startTime is given. */
export async function isAlive(pid: number, startTime?: number): Promise<boolean> {
  const stat = await readProcStat(pid);
  if (!stat || stat.state === 'Z' || stat.state === 'X') return false;
  return startTime === undefined || stat.startTime === startTime;
}

/** How long one read of /proc serves further group lookups (a usage tick asks once per server). */
const SNAPSHOT_MS = 250;
let snapshot: { at: number; stats: Promise<ProcStat[]> } | undefined;

/** Every live process, read once per SNAPSHOT_MS however many servers ask in that time. */
function allProcesses(): Promise<ProcStat[]> {
  const now = Date.now();
  if (!snapshot || now - snapshot.at > SNAPSHOT_MS) {
    const stats = readdir('/proc').then(async (entries) => {
      const all = await Promise.all(entries.filter((e) => /^\d+$/.test(e)).map((e) => readProcStat(Number(e))));
      return all.filter((s): s is ProcStat => !!s && s.state !== 'Z');
    });
    snapshot = { at: now, stats };
  }
  return snapshot.stats;
}

/** The live members of a process group, from a /proc read at most SNAPSHOT_MS old (for usage figures). */
export async function groupProcesses(pgid: number): Promise<ProcStat[]> {
  return (await allProcesses()).filter((s) => s.pgrp === pgid);
}

/** Sends a signal to a process group; a group that is already gone is not an error. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

/** Real uid of a process; undefined when it is gone. */
async function realUid(pid: string): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const match = /^Uid:\s+(\d+)/m.exec(status);
  return match ? Number(match[1]) : undefined;
}

/** SIGKILLs every process whose real uid is `uid`, repeating while some appear (a fork racing the kill). Never for uid 0. */
export async function killUid(uid: number): Promise<void> {
  if (!(uid > 0)) throw new Error(`drivers/proc: refusing to kill every process of uid ${uid}`);
  for (let round = 0; round < 20; round++) {
    const pids = (await readdir('/proc')).filter((e) => /^\d+$/.test(e));
    const owned = (await Promise.all(pids.map(async (pid) => ((await realUid(pid)) === uid ? Number(pid) : undefined)))).filter((p): p is number => !!p);
    if (owned.length === 0) return;
    for (const pid of owned) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
