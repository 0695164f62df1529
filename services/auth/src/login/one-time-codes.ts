import { randomBytes, randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { UnauthenticatedError } from '@encedeus/contracts';
import { generateOtpCode, hashOtpCode, safeEqualHex } from '@encedeus/security';
import { Mailer } from '../mail/mailer';
import { AuthState } from '../state/auth-state';

/** OTP rules of issue #3. */
export const OTP_TTL_SECONDS = 5 * 60;
export const OTP_MAX_ATTEMPTS = 5;

export type OtpPurpose = 'login' | 'register';

/**
 * Six-digit codes mailed for two-step login and registration: valid 5 minutes, 5 attempts, stored
 * as an HMAC keyed with a secret of the auth schema. A new code for the same address replaces the old one.
 */
@Injectable()
export class OneTimeCodes {
  private secret?: Promise<string>;

  constructor(private readonly state: AuthState, private readonly mailer: Mailer) {}

  async issue(purpose: OtpPurpose, email: string, data: Record<string, unknown>): Promise<void> {
    const code = generateOtpCode();
    const hash = hashOtpCode(await this.key(), purpose, email, code);
    await this.state.dataSource.transaction(async (em) => {
      await em.query(`update auth.otp_codes set consumed_at = now() where purpose = $1 and email = $2 and consumed_at is null`, [purpose, email]);
      await em.query(
        `insert into auth.otp_codes (id, purpose, email, code_hash, data, expires_at) values ($1,$2,$3,$4,$5, now() + interval '${OTP_TTL_SECONDS} seconds')`,
        [randomUUID(), purpose, email, hash, JSON.stringify(data)],
      );
    });
    const what = purpose === 'login' ? 'log in' : 'finish your registration';
    await this.mailer.send(
      email,
      'Your Encedeus code',
      `Your Encedeus code is ${code}\n\nUse it to ${what}. It expires in 5 minutes. If you did not ask for it, ignore this mail.\n`,
    );
  }

  /** Consumes the current code of (purpose, email) and returns its data; 401 when wrong, expired or locked. */
  async verify<T>(purpose: OtpPurpose, email: string, code: string): Promise<T> {
    const hash = hashOtpCode(await this.key(), purpose, email, code);
    const outcome = await this.state.dataSource.transaction(async (em) => {
      const [row] = await em.query(
        `select id, code_hash, attempts, data from auth.otp_codes
          where purpose = $1 and email = $2 and consumed_at is null and expires_at > now()
          order by created_at desc limit 1 for update`,
        [purpose, email],
      );
      if (!row) return { error: 'No valid code: ask for a new one' };
      if (safeEqualHex(row.code_hash, hash)) {
        await em.query(`update auth.otp_codes set consumed_at = now() where id = $1`, [row.id]);
        return { data: row.data as T };
      }
      const attempts = row.attempts + 1;
      // The fifth wrong try burns the code: even the right one no longer works.
      await em.query(`update auth.otp_codes set attempts = $2::int, consumed_at = case when $2::int >= $3::int then now() else null end where id = $1`, [row.id, attempts, OTP_MAX_ATTEMPTS]);
      return { error: attempts >= OTP_MAX_ATTEMPTS ? 'Too many wrong codes: ask for a new one' : `Wrong code; ${OTP_MAX_ATTEMPTS - attempts} attempt(s) left` };
    });
    if ('error' in outcome) throw new UnauthenticatedError(outcome.error);
    return outcome.data;
  }

  private key(): Promise<string> {
    this.secret ??= this.state.dataSource.transaction(async (em) => {
      await em.query(`insert into auth.settings (key, value) values ('otp_hmac_key', $1) on conflict (key) do nothing`, [randomBytes(32).toString('hex')]);
      const [row] = await em.query(`select value from auth.settings where key = 'otp_hmac_key'`);
      return row.value as string;
    });
    return this.secret;
  }
}
