import { Logger } from '@nestjs/common';
import type { Socket } from 'socket.io';
import { DomainError, ValidationError } from '@encedeus/contracts';
import { sessionOf } from '../sessions/socket-sessions';
import { callMessageSchema, cancelMessageSchema, ServerEvents, type LineMessage, type ResultMessage } from '../wire';
import type { CallContext, CallOutcome, RealtimeCall } from './call';

interface Running {
  abort: AbortController;
  finish(outcome: CallOutcome): void;
}

/** The abort reason of calls whose socket went away (`ctx.signal.reason`), as opposed to a `cancel` message. */
export const CALL_DISCONNECTED = 'disconnected';

const CANCELLED: CallOutcome = { success: false, code: 'CANCELLED', message: 'The call was cancelled' };

/**
 * Runs the calls of every socket: `call` → `line`* → exactly one `result`, whatever happens
 * (bad envelope, unknown call, invalid params, a throwing or hanging call, cancel, disconnect).
 */
export class CallRunner {
  private readonly logger = new Logger('realtime');
  private readonly calls = new Map<string, RealtimeCall<any>>();
  private readonly running = new WeakMap<Socket, Map<string, Running>>();

  constructor(
    calls: RealtimeCall<any>[],
    private readonly options: { maxCallsPerSocket: number; cancelGraceMs: number },
  ) {
    for (const call of calls) {
      if (this.calls.has(call.name)) throw new Error(`realtime: two calls are named ${call.name}`);
      this.calls.set(call.name, call);
    }
  }

  /** Names of the registered calls. */
  names(): string[] {
    return [...this.calls.keys()];
  }

  /** Handles a `call` message. Never throws. */
  start(socket: Socket, message: unknown): void {
    const envelope = callMessageSchema.safeParse(message);
    if (!envelope.success) {
      const id = typeof (message as { id?: unknown })?.id === 'string' ? (message as { id: string }).id : '';
      this.send(socket, { id, success: false, code: 'VALIDATION_FAILED', message: 'A call is { id: string, call: string, params? }' });
      return;
    }
    const { id, call: name, params } = envelope.data;
    const active = this.active(socket);
    if (active.has(id)) {
      this.send(socket, { id, success: false, code: 'CONFLICT', message: `A call with id ${id} is already running` });
      return;
    }
    const call = this.calls.get(name);
    if (!call) {
      this.send(socket, { id, success: false, code: 'NOT_FOUND', message: `Unknown call "${name}"; known calls: ${this.names().join(', ')}` });
      return;
    }
    if (active.size >= this.options.maxCallsPerSocket) {
      this.send(socket, { id, success: false, code: 'RATE_LIMITED', message: `At most ${this.options.maxCallsPerSocket} calls may run at once` });
      return;
    }
    const parsed = call.params.safeParse(params ?? {});
    if (!parsed.success) {
      const fields = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
      const error = new ValidationError(`Invalid params for ${name}: ${fields.map((f) => `${f.path || '(params)'} ${f.message}`).join('; ')}`, fields);
      this.send(socket, { id, success: false, code: error.code, message: error.message, data: error.details });
      return;
    }

    const abort = new AbortController();
    let done = false;
    let grace: NodeJS.Timeout | undefined;
    const finish = (outcome: CallOutcome) => {
      if (done) return;
      done = true;
      clearTimeout(grace);
      active.delete(id);
      this.send(socket, { id, ...outcome });
    };
    abort.signal.addEventListener('abort', () => {
      grace = setTimeout(() => finish(CANCELLED), this.options.cancelGraceMs);
      grace.unref();
    });
    active.set(id, { abort, finish });

    const ctx: CallContext = {
      id,
      get principal() {
        return sessionOf(socket).principal!;
      },
      meta: { actor: sessionOf(socket).principal!.actor, correlationId: `call-${id}`.slice(0, 100) },
      signal: abort.signal,
      line: (line, stream) => {
        if (done) return;
        const message: LineMessage = stream === undefined ? { id, line } : { id, line, stream };
        socket.emit(ServerEvents.line, message);
      },
    };
    void (async () => {
      try {
        await call.authorize(ctx.principal, parsed.data);
        finish(await call.run(ctx, parsed.data));
      } catch (error) {
        finish(this.failure(name, error, abort.signal.aborted));
      }
    })();
  }

  /** Handles a `cancel` message: a finished or unknown id is ignored. */
  cancel(socket: Socket, message: unknown): void {
    const parsed = cancelMessageSchema.safeParse(message);
    if (!parsed.success) return;
    this.active(socket).get(parsed.data.id)?.abort.abort();
  }

  /**
   * A disconnect aborts every running call of the socket (their results go nowhere), with the reason
   * CALL_DISCONNECTED: a call may tell it from a `cancel` (jobs.run lets the job run on, issue 14).
   */
  cancelAll(socket: Socket): void {
    for (const running of this.running.get(socket)?.values() ?? []) running.abort.abort(CALL_DISCONNECTED);
  }

  /** Running calls of a socket (tests, metrics). */
  count(socket: Socket): number {
    return this.running.get(socket)?.size ?? 0;
  }

  private active(socket: Socket): Map<string, Running> {
    let active = this.running.get(socket);
    if (!active) this.running.set(socket, (active = new Map()));
    return active;
  }

  private failure(name: string, error: unknown, cancelled: boolean): CallOutcome {
    if (error instanceof DomainError) return { success: false, code: error.code, message: error.message, ...(error.details !== undefined ? { data: error.details } : {}) };
    if (cancelled) return CANCELLED;
    this.logger.error(`realtime: call ${name} failed: ${(error as Error)?.stack ?? String(error)}`);
    return { success: false, code: 'INTERNAL', message: `${name} failed` };
  }

  private send(socket: Socket, result: ResultMessage): void {
    socket.emit(ServerEvents.result, result);
  }
}
