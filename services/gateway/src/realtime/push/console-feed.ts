import { Logger } from '@nestjs/common';
import { type JetStreamManager, type NatsConnection, type Subscription } from 'nats';
import type { Socket } from 'socket.io';
import { STREAMS, Subjects } from '@encedeus/contracts';
import { readRange } from '@encedeus/messaging';
import type { RoomAccess } from '../rooms/rooms';
import { serverRoom } from '../rooms/rooms';
import { ServerEvents, type ConsoleLinePush, type ConsoleScrollback } from '../wire';
import type { Pusher } from './pusher';

interface Line {
  /** The message body as sent, to recognise a line seen both in the scrollback and live. */
  raw: string;
  line: string;
  stream?: string;
  at?: number;
}

interface Joining {
  buffer: Line[];
}

interface Feed {
  sub: Subscription;
  joining: Set<Joining>;
}

const decoder = new TextDecoder();
const SCROLLBACK_MAX = 1000;
const SCROLLBACK_TIMEOUT_MS = 5000;

/**
 * Decodes a console message: the agent's `{ line, stream, at }`, `{ line, ts }`, or a plain line.
 */
export function decodeConsoleLine(data: Uint8Array): Line {
  const raw = decoder.decode(data);
  if (raw.startsWith('{')) {
    try {
      const value = JSON.parse(raw) as Record<string, unknown>;
      if (typeof value.line === 'string') {
        const at = typeof value.at === 'number' ? value.at : typeof value.ts === 'number' ? value.ts : undefined;
        return { raw, line: value.line, ...(typeof value.stream === 'string' ? { stream: value.stream } : {}), ...(at !== undefined ? { at } : {}) };
      }
    } catch {
      // Not JSON after all: a line that starts with "{".
    }
  }
  return { raw, line: raw };
}

/**
 * Console lines of the servers that have a room here. One core subscription to
 * `console.<id>.out` per server while its room has members (DESIGN.md §3: core NATS for live
 * lines); the scrollback (stream CONSOLE keeps the last 1,000 lines per server) is read on join.
 *
 * Seam between scrollback and live: the subscription starts before the scrollback is read and
 * buffers for the joining socket; lines found at both the end of the scrollback and the start of
 * the buffer are sent once. (Core messages carry no stream sequence, so equality of the message
 * body decides; the agent's lines carry a timestamp, which keeps that unambiguous.)
 */
export class ConsoleFeed {
  private readonly logger = new Logger('realtime');
  private readonly feeds = new Map<string, Feed>();
  private jsm?: Promise<JetStreamManager>;

  constructor(
    private readonly nc: NatsConnection,
    private readonly pusher: Pusher,
    private readonly access: RoomAccess,
  ) {}

  /**
   * Sends the scrollback to `socket` (when it may read the console) and joins it to the room,
   * without a gap or a repeat between the two.
   */
  async join(socket: Socket, serverId: string): Promise<void> {
    const room = serverRoom(serverId);
    const feed = this.feed(serverId);
    const joining: Joining = { buffer: [] };
    feed.joining.add(joining);
    try {
      const readsConsole = () => this.access.usesConsole(socketPrincipal(socket)!, serverId);
      const scrollback = readsConsole() ? await this.scrollback(serverId) : [];
      if (!socket.connected) return;
      // From here to the join nothing awaits, so no live line can fall between buffer and room.
      if (readsConsole()) {
        const message: ConsoleScrollback = { serverId, lines: scrollback.map((l) => l.line) };
        socket.emit(ServerEvents.consoleScrollback, message);
        for (const l of joining.buffer.slice(overlap(scrollback, joining.buffer))) socket.emit(ServerEvents.consoleLine, linePush(serverId, l));
      }
      void socket.join(room);
    } finally {
      feed.joining.delete(joining);
      this.release(serverId);
    }
  }

  /** Called when a server room has no local members left. */
  release(serverId: string): void {
    const feed = this.feeds.get(serverId);
    if (!feed || feed.joining.size > 0 || this.pusher.size(serverRoom(serverId)) > 0) return;
    feed.sub.unsubscribe();
    this.feeds.delete(serverId);
  }

  stop(): void {
    for (const feed of this.feeds.values()) feed.sub.unsubscribe();
    this.feeds.clear();
  }

  private feed(serverId: string): Feed {
    let feed = this.feeds.get(serverId);
    if (feed) return feed;
    const room = serverRoom(serverId);
    const joining = new Set<Joining>();
    const audience = (p: Parameters<RoomAccess['usesConsole']>[0]) => this.access.usesConsole(p, serverId);
    const sub = this.nc.subscribe(Subjects.consoleOut(serverId), {
      callback: (err, msg) => {
        if (err) return;
        const line = decodeConsoleLine(msg.data);
        for (const j of joining) j.buffer.push(line);
        this.pusher.push(room, ServerEvents.consoleLine, linePush(serverId, line), audience);
      },
    });
    feed = { sub, joining };
    this.feeds.set(serverId, feed);
    return feed;
  }

  /** The last ≤ 1,000 lines of stream CONSOLE for the server, oldest first; empty when there are none. */
  private async scrollback(serverId: string): Promise<Line[]> {
    const subject = Subjects.consoleOut(serverId);
    this.jsm ??= this.nc.jetstreamManager();
    let lastSeq: number;
    try {
      lastSeq = (await (await this.jsm).streams.getMessage(STREAMS.console, { last_by_subj: subject })).seq;
    } catch {
      return []; // No line yet, or no CONSOLE stream.
    }
    const lines: Line[] = [];
    try {
      const range = readRange(this.nc, { stream: STREAMS.console, filterSubject: subject, to: lastSeq, batch: SCROLLBACK_MAX, idleTimeoutMs: SCROLLBACK_TIMEOUT_MS });
      for await (const m of range) lines.push(decodeConsoleLine(m.data));
    } catch (error) {
      this.logger.warn(`realtime: scrollback of ${serverId} failed: ${(error as Error).message}`);
    }
    return lines.slice(-SCROLLBACK_MAX);
  }
}

function socketPrincipal(socket: Socket) {
  return (socket.data as { principal?: Parameters<RoomAccess['usesConsole']>[0] }).principal;
}

function linePush(serverId: string, l: Line): ConsoleLinePush {
  return { serverId, line: l.line, ...(l.stream !== undefined ? { stream: l.stream } : {}), ...(l.at !== undefined ? { at: l.at } : {}) };
}

/** Length of the longest suffix of `a` that is a prefix of `b` (by message body). */
export function overlap(a: Line[], b: Line[]): number {
  for (let k = Math.min(a.length, b.length); k > 0; k--) {
    let same = true;
    for (let i = 0; i < k && same; i++) same = a[a.length - k + i].raw === b[i].raw;
    if (same) return k;
  }
  return 0;
}
