import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DomainError } from '@encedeus/contracts';

/** Where the agent bundle comes from (GatewayOptions.agentBundle). */
export interface AgentBundleOptions {
  /** The `encedeus-agent.tgz` to serve. @default ENCEDEUS_AGENT_BUNDLE, else build/agent/encedeus-agent.tgz of the checkout */
  file?: string;
  /** Build it (`infra/scripts/build-agent.js`) on the first request when it is missing. @default true when the build script is there */
  build?: boolean;
}

/** The checkout the gateway runs from (sources or dist/), found by its build script; undefined in an image without it. */
export function checkoutRoot(from = __dirname): string | undefined {
  for (let dir = from; dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'infra', 'scripts', 'build-agent.js')) && existsSync(join(dir, 'package.json'))) return dir;
  }
  return undefined;
}

/**
 * The agent bundle served at `GET /agent/encedeus-agent.tgz`: read once and kept in memory (a few
 * MiB) until the file changes; built on demand, once for any number of concurrent requests, when
 * missing. It holds no secret: the agent's credentials come from `POST /api/v1/agent/enroll`.
 */
export class AgentBundle {
  private cached?: { bytes: Buffer; sha256: string; mtimeMs: number; size: number };
  private building?: Promise<void>;
  readonly file: string | undefined;
  private readonly root: string | undefined;
  private readonly buildable: boolean;

  constructor(options: AgentBundleOptions = {}) {
    this.root = checkoutRoot();
    this.file = options.file ?? process.env.ENCEDEUS_AGENT_BUNDLE ?? (this.root ? join(this.root, 'build', 'agent', 'encedeus-agent.tgz') : undefined);
    this.buildable = (options.build ?? true) && !!this.root && !options.file && !process.env.ENCEDEUS_AGENT_BUNDLE;
  }

  async get(): Promise<{ bytes: Buffer; sha256: string }> {
    const file = this.file;
    if (!file) throw new DomainError('SERVICE_UNAVAILABLE', 'No agent bundle on this gateway (set ENCEDEUS_AGENT_BUNDLE)');
    if (!existsSync(file)) {
      if (!this.buildable) throw new DomainError('SERVICE_UNAVAILABLE', 'The agent bundle is not built (npm run build:agent)');
      this.building ??= this.build().finally(() => (this.building = undefined));
      await this.building;
    }
    const info = await stat(file);
    if (this.cached && this.cached.mtimeMs === info.mtimeMs && this.cached.size === info.size) return this.cached;
    const bytes = await readFile(file);
    this.cached = { bytes, sha256: createHash('sha256').update(bytes).digest('hex'), mtimeMs: info.mtimeMs, size: info.size };
    return this.cached;
  }

  private build(): Promise<void> {
    return new Promise((resolve, reject) => {
      execFile(process.execPath, [join(this.root!, 'infra', 'scripts', 'build-agent.js')], { cwd: this.root, env: { ...process.env, ENCEDEUS_AGENT_BUILD_DIR: dirname(this.file!) }, timeout: 300_000, maxBuffer: 16 * 1024 * 1024 }, (error, _stdout, stderr) => {
        if (error) reject(new DomainError('SERVICE_UNAVAILABLE', `The agent bundle could not be built: ${String(stderr).trim().split('\n').slice(-1)[0] ?? error.message}`));
        else resolve();
      });
    });
  }
}
