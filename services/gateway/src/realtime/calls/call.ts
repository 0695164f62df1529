import type { z } from 'zod';
import type { ErrorCode } from '@encedeus/contracts';
import type { CommandMeta } from '@encedeus/messaging';
import type { Principal } from '@encedeus/security';

/** What a running call sees. */
export interface CallContext {
  /** The client's id of this call. */
  readonly id: string;
  /** The caller's principal now (re-resolved when identity changes). */
  readonly principal: Principal;
  /** Command meta for NATS requests made on the caller's behalf. */
  readonly meta: CommandMeta;
  /** Aborted by `cancel { id }` or when the socket disconnects. */
  readonly signal: AbortSignal;
  /** Sends one `line { id, line, stream? }`; ignored once the call has its result. */
  line(line: string, stream?: string): void;
}

/** How a call ended; becomes `result { id, success, message?, code?, data? }`. */
export interface CallOutcome {
  success: boolean;
  message?: string;
  code?: ErrorCode;
  data?: unknown;
}

/**
 * One interactive call of the seed 003 protocol. Add a call by writing one class and listing it
 * in `RealtimeModule.forRoot({ calls })` (built-in calls are listed in realtime.module.ts).
 */
export interface RealtimeCall<P = unknown> {
  /** The `call` name clients send, e.g. `jobs.run`. */
  readonly name: string;
  /** Params schema; a mismatch answers VALIDATION_FAILED without running. */
  readonly params: z.ZodType<P>;
  /** Throws ForbiddenError / NotFoundError when the principal may not make this call. */
  authorize(principal: Principal, params: P): Promise<void> | void;
  /**
   * Runs to the end. On `ctx.signal` abort it must stop the underlying work and return soon
   * (the runner answers CANCELLED for it after a grace period). Throwing a DomainError is a
   * failure result with its code.
   */
  run(ctx: CallContext, params: P): Promise<CallOutcome>;
}

export const REALTIME_CALLS = Symbol('REALTIME_CALLS');
