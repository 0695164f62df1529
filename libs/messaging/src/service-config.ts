import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * Configuration of every Encedeus process: environment variables first, then an optional
 * `encedeus.hcl` (path in ENCEDEUS_CONFIG, else ./encedeus.hcl), then defaults. README lists every key.
 */
export interface EncedeusConfig {
  /** Folder for generated credentials and embedded data. Env DATA_DIR. @default ./.data */
  dataDir: string;
  nats: {
    /** Env NATS_URL. @default nats://127.0.0.1:4250 */
    url: string;
    /** Folder of per-service `.creds` files. Env NATS_CREDS_DIR. @default <dataDir>/nats/creds */
    credsDir: string;
    /** Account signing key file (nodes, gateway mint users). Env NATS_SIGNER_FILE. @default <dataDir>/nats/account-signer.json */
    signerFile: string;
    /** NATS URL handed to agents and integrators (as they reach it). Env NATS_PUBLIC_URL. @default url */
    publicUrl: string;
  };
  /** Env DATABASE_URL. @default postgres://postgres@127.0.0.1:5432/encedeus */
  databaseUrl: string;
  gateway: {
    /** Env PORT. @default 8080 */
    port: number;
    /** Folder of the built console served at `/`. Env CONSOLE_DIR. @default frontend/console/dist/browser */
    consoleDir: string;
  };
  auth: {
    /** Self-registration (seed 003: off until enabled). Env AUTH_REGISTRATION_ENABLED. @default false */
    registrationEnabled: boolean;
    /** Two-step login for everyone. Env AUTH_OTP_REQUIRED. @default false */
    otpRequired: boolean;
    /** Env ENCEDEUS_ADMIN_EMAIL. */
    adminEmail?: string;
    /** Env ENCEDEUS_ADMIN_PASSWORD. */
    adminPassword?: string;
  };
  smtp: {
    /** Env SMTP_HOST. @default 127.0.0.1 */
    host: string;
    /** Env SMTP_PORT. @default 2525 */
    port: number;
    /** Env MAIL_FROM. @default Encedeus <no-reply@encedeus.local> */
    from: string;
  };
}

type HclTree = Record<string, any>;

function hclBlock(tree: HclTree, name: string): Record<string, unknown> {
  // hcl2json renders `nats { url = "x" }` as { nats: [{ url: "x" }] }.
  const value = tree[name];
  return (Array.isArray(value) ? value[0] : value) ?? {};
}

const bool = (value: unknown, fallback: boolean) =>
  value === undefined || value === '' ? fallback : value === true || /^(1|true|yes|on)$/i.test(String(value));

/** Builds the configuration from env and an already-parsed HCL tree (see loadConfig). */
export function buildConfig(env: NodeJS.ProcessEnv = process.env, hcl: HclTree = {}): EncedeusConfig {
  const nats = hclBlock(hcl, 'nats');
  const database = hclBlock(hcl, 'database');
  const gateway = hclBlock(hcl, 'gateway');
  const auth = hclBlock(hcl, 'auth');
  const smtp = hclBlock(hcl, 'smtp');
  const dataDir = resolve(env.DATA_DIR ?? (hcl.data_dir as string) ?? '.data');
  return {
    dataDir,
    nats: {
      url: env.NATS_URL ?? (nats.url as string) ?? 'nats://127.0.0.1:4250',
      credsDir: env.NATS_CREDS_DIR ?? (nats.creds_dir as string) ?? join(dataDir, 'nats', 'creds'),
      signerFile: env.NATS_SIGNER_FILE ?? (nats.signer_file as string) ?? join(dataDir, 'nats', 'account-signer.json'),
      publicUrl: env.NATS_PUBLIC_URL || (nats.public_url as string) || env.NATS_URL || (nats.url as string) || 'nats://127.0.0.1:4250',
    },
    databaseUrl: env.DATABASE_URL ?? (database.url as string) ?? 'postgres://postgres@127.0.0.1:5432/encedeus',
    gateway: {
      port: Number(env.PORT ?? gateway.port ?? 8080),
      consoleDir: env.CONSOLE_DIR ?? (gateway.console_dir as string) ?? resolve('frontend/console/dist/browser'),
    },
    auth: {
      registrationEnabled: bool(env.AUTH_REGISTRATION_ENABLED ?? auth.registration_enabled, false),
      otpRequired: bool(env.AUTH_OTP_REQUIRED ?? auth.otp_required, false),
      // An empty variable means unset (compose files often pass KEY= ).
      adminEmail: env.ENCEDEUS_ADMIN_EMAIL || (auth.admin_email as string | undefined) || undefined,
      adminPassword: env.ENCEDEUS_ADMIN_PASSWORD || (auth.admin_password as string | undefined) || undefined,
    },
    smtp: {
      host: env.SMTP_HOST ?? (smtp.host as string) ?? '127.0.0.1',
      port: Number(env.SMTP_PORT ?? smtp.port ?? 2525),
      from: env.MAIL_FROM ?? (smtp.from as string) ?? 'Encedeus <no-reply@encedeus.local>',
    },
  };
}

/** Reads env and `encedeus.hcl` (if present). */
export async function loadConfig(env: NodeJS.ProcessEnv = process.env): Promise<EncedeusConfig> {
  const file = env.ENCEDEUS_CONFIG ?? 'encedeus.hcl';
  let hcl: HclTree = {};
  if (existsSync(file)) {
    const { parse } = await import('@cdktf/hcl2json');
    hcl = (await parse(file, readFileSync(file, 'utf8'))) as HclTree;
  }
  return buildConfig(env, hcl);
}

/** The `.creds` content of a service user: env NATS_CREDS (content or path), else `<credsDir>/<user>.creds`. */
export function readServiceCreds(config: EncedeusConfig, user: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env.NATS_CREDS;
  if (value && value.includes('BEGIN NATS USER JWT')) return value;
  const file = value ?? join(config.nats.credsDir, `${user}.creds`);
  if (!existsSync(file)) throw new Error(`messaging/config: NATS credentials for ${user} not found at ${file}; run npm run dev or infra/nats generate`);
  return readFileSync(file, 'utf8');
}
