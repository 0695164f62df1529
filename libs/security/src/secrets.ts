import { createHash, createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { API_KEY_PREFIX, API_KEY_SHOWN_CHARS } from '@encedeus/contracts';

/** Hex SHA-256 of a string. */
export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** A new API key `enck_<43 base64url chars>` (256 random bits) and the part shown in lists. */
export function generateApiKey(): { key: string; prefix: string } {
  const key = API_KEY_PREFIX + randomBytes(32).toString('base64url');
  return { key, prefix: key.slice(0, API_KEY_SHOWN_CHARS) };
}

export function looksLikeApiKey(token: string): boolean {
  return token.startsWith(API_KEY_PREFIX);
}

/**
 * Lookup hash of an API key. A fast unsalted SHA-256 is right here, unlike for passwords: the key
 * holds 256 random bits, so there is nothing to brute-force or look up in a dictionary, and the
 * hash must be cheap because every request carrying a key computes it (argon2 would cost ~50 ms).
 */
export function hashApiKey(key: string): string {
  return sha256Hex(key);
}

/** An opaque refresh token `encr_<43 base64url chars>`; stored only as its SHA-256 (same reasoning as API keys). */
export function generateRefreshToken(): string {
  return 'encr_' + randomBytes(32).toString('base64url');
}

/** A 6-digit one-time code, uniformly random. */
export function generateOtpCode(): string {
  return String(randomInt(0, 1_000_000)).padStart(6, '0');
}

/**
 * Hash of a one-time code keyed with a server secret: a 6-digit code has only 10^6 values, so a
 * plain hash would fall to a table; the HMAC key never leaves the auth schema.
 */
export function hashOtpCode(secret: string, purpose: string, email: string, code: string): string {
  return createHmac('sha256', secret).update(`${purpose}\n${email.toLowerCase()}\n${code}`).digest('hex');
}

export function safeEqualHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A readable random password for a generated first admin. */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}
