import { Injectable, type OnModuleInit } from '@nestjs/common';
import { PasswordHasher } from '../credentials/password-hasher';
import { LoginRateLimiter } from './login-rate-limiter';

/**
 * A password checked under the login limiter, for every way in (REST login, the current-password
 * check, SFTP logins): admitted first (429 beyond the limits), then verified on the bounded argon2
 * queue. A missing hash still costs one verification, so unknown accounts answer as slowly as
 * known ones. An attempt the queue refused does not count as a failure.
 */
@Injectable()
export class PasswordChecks implements OnModuleInit {
  /** A real hash to verify against when the account does not exist, so both cases cost the same. */
  private dummyHash!: string;

  constructor(
    private readonly limiter: LoginRateLimiter,
    private readonly hasher: PasswordHasher,
  ) {}

  async onModuleInit(): Promise<void> {
    this.dummyHash = await this.hasher.hash('not-a-real-password-' + Date.now());
  }

  /** Whether `password` matches `hash` (null: no such account), counted against `account` and `ip`. */
  async check(account: string, ip: string | undefined, hash: string | null, password: string): Promise<boolean> {
    const attempt = await this.limiter.begin(account, ip);
    let ok: boolean;
    try {
      ok = (await this.hasher.verify(hash ?? this.dummyHash, password)) && hash !== null;
    } catch (error) {
      await this.limiter.succeeded(attempt);
      throw error;
    }
    if (ok) await this.limiter.succeeded(attempt);
    else await this.limiter.failed(attempt);
    return ok;
  }
}
