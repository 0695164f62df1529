import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { NatsConnection, Subscription } from 'nats';
import { Subjects } from '@encedeus/contracts';
import { BoundedTail, NATS_CONNECTION } from '@encedeus/messaging';

/** One output line of a job, as the agent publishes it on `agent.<node>.job.<job>.out`. */
export interface JobLine {
  line: string;
  stream?: 'stdout' | 'stderr';
}

interface Kept {
  tail: BoundedTail<JobLine>;
  lastAt: number;
  listeners: Set<(line: JobLine) => void>;
}

/** Per running job: the last 64 KiB of its output. */
export const JOB_TAIL_BYTES = 64 * 1024;
/** A longer line is cut to this many characters before it is kept or forwarded. */
const LINE_MAX_CHARS = 8 * 1024;
/** Jobs with a tail at once; beyond it the one quiet for longest (and not watched) goes (≤ 16 Mi characters in all). */
const MAX_JOBS = 256;
/** A tail nobody watches is forgotten this long after its last line (jobs run ≤ 15 minutes). */
const IDLE_MS = 16 * 60_000;
const SWEEP_MS = 60_000;

/**
 * The output of running jobs that passes this gateway: one core subscription to every job's live
 * output (`agent.*.job.*.out`, not stored anywhere, DESIGN.md §3), each job's last 64 KiB kept in a
 * BoundedTail (libs/messaging), so `jobs.attach` can replay what a job printed so far and then
 * follow it (issue 14: a running job's page after a reload). Every gateway instance keeps its own
 * tails; output from before an instance started is not there. A tail is forgotten when its job
 * finishes (`forget`) or has been quiet for 16 minutes.
 */
@Injectable()
export class JobOutputTail implements OnModuleInit, OnModuleDestroy {
  private readonly jobs = new Map<string, Kept>();
  private sub?: Subscription;
  private sweeper?: NodeJS.Timeout;

  constructor(@Inject(NATS_CONNECTION) private readonly nc: NatsConnection) {}

  onModuleInit(): void {
    this.sub = this.nc.subscribe(Subjects.allJobOutput, {
      callback: (error, m) => {
        if (error) return;
        const line = decodeJobLine(m.data);
        const [, nodeId, , jobId] = m.subject.split('.');
        if (line) this.keep(keyOf(nodeId, jobId), line);
      },
    });
    this.sweeper = setInterval(() => this.sweep(Date.now() - IDLE_MS), SWEEP_MS);
    this.sweeper.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.sweeper);
    this.sub?.unsubscribe();
    this.jobs.clear();
  }

  /**
   * Calls `onLine` with the job's kept lines, oldest first, then with each new line as it arrives,
   * with no gap and no repeat between the two (nothing awaits between replay and subscribe, and new
   * lines come on this subscription's callback). Before the replay, `onDropped` hears how many
   * earlier lines are no longer kept, if any. Answers a function that stops following. Only lines
   * from the job's own node count: an agent may publish only under its node, so another node's
   * agent cannot write into this job's output.
   */
  follow(nodeId: string, jobId: string, onLine: (line: JobLine) => void, onDropped?: (count: number) => void): { stop: () => void } {
    const kept = this.kept(keyOf(nodeId, jobId));
    if (kept.tail.dropped > 0) onDropped?.(kept.tail.dropped);
    for (const { item } of kept.tail.entries()) onLine(item);
    kept.listeners.add(onLine);
    return {
      stop: () => {
        kept.listeners.delete(onLine);
      },
    };
  }

  /** The job ended: its result carries the whole output, the tail is no longer needed. */
  forget(nodeId: string, jobId: string): void {
    const key = keyOf(nodeId, jobId);
    const kept = this.jobs.get(key);
    if (kept && kept.listeners.size === 0) this.jobs.delete(key);
  }

  /** Jobs with a tail here (tests, metrics). */
  get size(): number {
    return this.jobs.size;
  }

  private keep(key: string, line: JobLine): void {
    const kept = this.kept(key);
    kept.tail.push(line);
    kept.lastAt = Date.now();
    for (const listener of kept.listeners) listener(line);
  }

  private kept(key: string): Kept {
    let kept = this.jobs.get(key);
    if (kept) return kept;
    if (this.jobs.size >= MAX_JOBS) this.evictOne();
    kept = { tail: new BoundedTail<JobLine>(JOB_TAIL_BYTES, (l) => l.line.length + 1), lastAt: Date.now(), listeners: new Set() };
    this.jobs.set(key, kept);
    return kept;
  }

  private evictOne(): void {
    let oldest: [string, Kept] | undefined;
    for (const entry of this.jobs) if (entry[1].listeners.size === 0 && (!oldest || entry[1].lastAt < oldest[1].lastAt)) oldest = entry;
    if (oldest) this.jobs.delete(oldest[0]);
  }

  private sweep(before: number): void {
    for (const [id, kept] of this.jobs) if (kept.listeners.size === 0 && kept.lastAt < before) this.jobs.delete(id);
  }
}

/** The `notice` line that says how many earlier lines of a job's output are no longer kept. */
export function droppedLinesNotice(count: number): string {
  return `[${count} earlier line${count === 1 ? '' : 's'} of output not kept here]`;
}

function keyOf(nodeId: string, jobId: string): string {
  return `${nodeId}.${jobId}`;
}

/** The agent's `{ line, stream }`; anything else is no line. */
export function decodeJobLine(data: Uint8Array): JobLine | undefined {
  let body: { line?: unknown; stream?: unknown };
  try {
    body = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
  if (typeof body?.line !== 'string') return undefined;
  const line = body.line.length > LINE_MAX_CHARS ? `${body.line.slice(0, LINE_MAX_CHARS)}…` : body.line;
  return body.stream === 'stdout' || body.stream === 'stderr' ? { line, stream: body.stream } : { line };
}
