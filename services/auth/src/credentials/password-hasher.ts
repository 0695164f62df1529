import { availableParallelism } from 'node:os';
import { Inject, Injectable } from '@nestjs/common';
import { hashPassword, passwordHashOptions, verifyPassword, WorkQueue } from '@encedeus/security';
import { AUTH_OPTIONS, type AuthModuleOptions } from '../auth.options';

/**
 * Every argon2 hash and verification of the auth service, through one bounded queue: under a burst
 * (logins, user creation) callers beyond what fits in `maxWaitMs` get 429 with Retry-After at once
 * instead of all timing out with 503 while the work goes on behind them.
 */
@Injectable()
export class PasswordHasher {
  private readonly queue: WorkQueue;

  constructor(@Inject(AUTH_OPTIONS) private readonly options: AuthModuleOptions) {
    // argon2 runs on libuv's pool (4 threads by default): more at once only queues there, unseen.
    const concurrency = options.passwordWork?.concurrency ?? Math.max(1, Math.min(availableParallelism(), 4));
    this.queue = new WorkQueue({
      concurrency,
      // Well inside the 5 s a caller waits for a reply, leaving room for the rest of its work.
      maxWaitMs: options.passwordWork?.maxWaitMs ?? 2000,
      maxQueued: options.passwordWork?.maxQueued ?? concurrency * 16,
    });
  }

  hash(password: string): Promise<string> {
    return this.queue.run(() => hashPassword(password, this.options.passwordHash ?? passwordHashOptions()));
  }

  /** A malformed hash is a mismatch. */
  verify(hash: string, password: string): Promise<boolean> {
    return this.queue.run(() => verifyPassword(hash, password));
  }
}
