import * as argon2 from 'argon2';

/** Cost of argon2id. OWASP's floor is 19 MiB / t=2; the default is stronger. */
export interface PasswordHashOptions {
  /** KiB of memory. Env ARGON2_MEMORY_KIB. @default 65536 (64 MiB) */
  memoryCost: number;
  /** Iterations. Env ARGON2_TIME_COST. @default 3 */
  timeCost: number;
  /** Lanes. @default 1 */
  parallelism: number;
}

export function passwordHashOptions(env: NodeJS.ProcessEnv = process.env): PasswordHashOptions {
  return {
    memoryCost: Number(env.ARGON2_MEMORY_KIB ?? 65536),
    timeCost: Number(env.ARGON2_TIME_COST ?? 3),
    parallelism: 1,
  };
}

/** Hashes a password with argon2id (the PHC string carries salt and parameters). */
export function hashPassword(password: string, options: PasswordHashOptions = passwordHashOptions()): Promise<string> {
  return argon2.hash(password, { type: argon2.argon2id, ...options });
}

/** True when `password` matches `hash`; a malformed hash is a mismatch, not an error. */
export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  try {
    return await argon2.verify(hash, password);
  } catch {
    return false;
  }
}
