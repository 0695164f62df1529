import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createTemplateSchema, MAX_MANIFEST_BYTES, MAX_PLUGIN_CODE_BYTES, pluginManifestSchema, type PluginManifest } from '@encedeus/contracts';
import { configSchemaProblem } from '../domain/config-validation';
import { checkRepositoryUrl, pinnedGit, RepositoryUrlError, type RepositoryUrlPolicy } from './repository-url';

/** Limits of one sync. */
export interface GitLimits {
  /** A fetch (or any git call) that takes longer is killed. @default 60 s */
  timeoutMs?: number;
  /** A repository whose packed objects exceed this is refused (and its copy deleted). @default 50 MiB */
  maxPackBytes?: number;
  /** At most this many plugins and this many templates are read. @default 200 */
  maxEntries?: number;
  /**
   * Also fetch `file://`, `http://` and hosts with internal addresses (tests' local repositories).
   * Never set by main.ts, nor by any REST body or environment variable. @default false
   */
  allowLocalRepositories?: boolean;
  /** Host name resolution of the URL check (tests). @default dns.lookup */
  lookup?: RepositoryUrlPolicy['lookup'];
}

export interface RepositoryPlugin {
  dir: string;
  manifest: PluginManifest;
  code: string;
  sha256: string;
}

export interface RepositoryTemplate {
  dir: string;
  template: Record<string, unknown>;
  name: string;
  description: string;
  category: string | null;
  tags: string[];
}

export interface RepositoryContents {
  commit: string;
  plugins: RepositoryPlugin[];
  templates: RepositoryTemplate[];
  /** `<path>: <why>` for each entry that was not taken. */
  skipped: string[];
}

export class GitError extends Error {}

/**
 * Git through the `git` binary (isomorphic-git has no file:// transport; DESIGN.md §9). Each
 * repository is a bare copy under `<dataDir>/<id>.git`: the branch is fetched (depth 1, no tags)
 * and read with ls-tree / cat-file, so nothing is ever checked out — no working tree, no hooks run,
 * no symlink is followed (links are listed as mode 120000 and skipped), no submodule is fetched.
 * The URL always follows `--`, so it cannot be read as an option.
 */
export class GitRepositories {
  private readonly timeoutMs: number;
  private readonly maxPackBytes: number;
  private readonly maxEntries: number;
  private readonly policy: RepositoryUrlPolicy;

  constructor(
    private readonly dataDir: string,
    limits: GitLimits = {},
  ) {
    this.timeoutMs = limits.timeoutMs ?? 60_000;
    this.maxPackBytes = limits.maxPackBytes ?? 50 * 1024 * 1024;
    this.maxEntries = limits.maxEntries ?? 200;
    this.policy = { allowLocal: limits.allowLocalRepositories === true, lookup: limits.lookup };
  }

  /** Refuses (RepositoryUrlError) a URL the service must not fetch: see repository-url.ts. */
  async checkUrl(url: string): Promise<void> {
    await checkRepositoryUrl(url, this.policy);
  }

  private git(args: string[], cwd?: string, maxBuffer = 8 * 1024 * 1024, pinned?: { config: string[]; env: Record<string, string> }): Promise<Buffer> {
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: this.dataDir,
      GIT_TERMINAL_PROMPT: '0',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_ASKPASS: '/bin/false',
      GIT_SSH_COMMAND: 'ssh -F /dev/null -oBatchMode=yes -oStrictHostKeyChecking=accept-new',
      // Local commands (init, ls-tree, cat-file…) need no transport; a fetch gets its URL's own.
      GIT_ALLOW_PROTOCOL: 'none',
      ...pinned?.env,
    };
    const safety = ['-c', 'core.hooksPath=/dev/null', '-c', 'protocol.ext.allow=never', '-c', 'core.symlinks=false', '-c', 'submodule.recurse=false', ...(pinned?.config ?? [])];
    return new Promise((resolve, reject) => {
      execFile('git', [...safety, ...args], { cwd, env, timeout: this.timeoutMs, maxBuffer, encoding: 'buffer', killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
        if (error) reject(new GitError(`git ${args[0]}: ${(stderr.toString() || error.message).trim().slice(0, 500)}`));
        else resolve(stdout);
      });
    });
  }

  private dirOf(id: string): string {
    return join(this.dataDir, `${id.replace(/[^A-Za-z0-9-]/g, '')}.git`);
  }

  /** Fetches `branch` of `url` into the repository's bare copy and reads its plugins and templates. */
  async sync(id: string, url: string, branch: string): Promise<RepositoryContents> {
    // Checked again at every fetch (a repository added before, a name that now resolves elsewhere); git connects to these addresses only.
    const checked = await checkRepositoryUrl(url, this.policy).catch((error: unknown) => {
      throw error instanceof RepositoryUrlError ? new GitError(`refused URL: ${error.message}`) : error;
    });
    const dir = this.dirOf(id);
    await mkdir(this.dataDir, { recursive: true });
    const exists = await stat(join(dir, 'HEAD')).then(
      () => true,
      () => false,
    );
    if (!exists) await this.git(['init', '--quiet', '--bare', dir]);
    try {
      await this.git(['fetch', '--quiet', '--depth', '1', '--no-tags', '--no-recurse-submodules', '--force', '--', url, `+refs/heads/${branch}:refs/heads/sync`], dir, undefined, pinnedGit(checked));
    } catch (error) {
      if (!exists) await rm(dir, { recursive: true, force: true });
      throw error;
    }
    const counts = (await this.git(['count-objects', '-v'], dir)).toString();
    const kib = Number(/size-pack: (\d+)/.exec(counts)?.[1] ?? 0) + Number(/^size: (\d+)/m.exec(counts)?.[1] ?? 0);
    if (kib * 1024 > this.maxPackBytes) {
      await rm(dir, { recursive: true, force: true });
      throw new GitError(`the repository holds ${kib} KiB, more than the limit of ${Math.floor(this.maxPackBytes / 1024)} KiB`);
    }
    const commit = (await this.git(['rev-parse', 'refs/heads/sync'], dir)).toString().trim();
    // Drop what older fetches left behind (shallow history is replaced, not accumulated).
    await this.git(['gc', '--quiet', '--prune=now'], dir).catch(() => undefined);
    return this.read(dir, commit);
  }

  /** Deletes the repository's copy. */
  async remove(id: string): Promise<void> {
    await rm(this.dirOf(id), { recursive: true, force: true });
  }

  private async read(dir: string, commit: string): Promise<RepositoryContents> {
    const listing = (await this.git(['ls-tree', '-r', '-l', '-z', commit, '--', 'plugins', 'templates'], dir)).toString('utf8');
    const blobs = new Map<string, { mode: string; sha: string; size: number }>();
    for (const line of listing.split('\0')) {
      const m = /^(\d+) (\w+) ([0-9a-f]+)\s+(-|\d+)\t(.+)$/s.exec(line);
      if (!m || m[2] !== 'blob') continue;
      blobs.set(m[5], { mode: m[1], sha: m[3], size: m[4] === '-' ? 0 : Number(m[4]) });
    }
    const skipped: string[] = [];
    const readBlob = async (path: string, limit: number): Promise<string | null> => {
      const blob = blobs.get(path);
      if (!blob) return (skipped.push(`${path}: missing`), null);
      if (blob.mode === '120000') return (skipped.push(`${path}: a symbolic link`), null);
      if (blob.size > limit) return (skipped.push(`${path}: ${blob.size} bytes, more than ${limit}`), null);
      return (await this.git(['cat-file', 'blob', blob.sha], dir, limit + 1024)).toString('utf8');
    };
    const parseJson = (path: string, text: string): unknown => {
      try {
        return JSON.parse(text);
      } catch (error) {
        skipped.push(`${path}: not JSON (${(error as Error).message.slice(0, 100)})`);
        return undefined;
      }
    };

    const plugins: RepositoryPlugin[] = [];
    const pluginManifests = [...blobs.keys()].filter((p) => /^plugins\/[^/]+\/plugin\.json$/.test(p)).sort();
    for (const path of pluginManifests.slice(0, this.maxEntries)) {
      const dirName = path.split('/')[1];
      const text = await readBlob(path, MAX_MANIFEST_BYTES);
      if (text === null) continue;
      const raw = parseJson(path, text);
      if (raw === undefined) continue;
      const parsed = pluginManifestSchema.safeParse(raw);
      if (!parsed.success) {
        skipped.push(`${path}: ${parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ').slice(0, 300)}`);
        continue;
      }
      const schemaProblem = configSchemaProblem(parsed.data.config_schema);
      if (schemaProblem) {
        skipped.push(`${path}: config_schema ${schemaProblem}`);
        continue;
      }
      const code = await readBlob(`plugins/${dirName}/${parsed.data.entry}`, MAX_PLUGIN_CODE_BYTES);
      if (code === null) continue;
      plugins.push({ dir: dirName, manifest: parsed.data, code, sha256: createHash('sha256').update(code).digest('hex') });
    }

    const templates: RepositoryTemplate[] = [];
    const templateFiles = [...blobs.keys()].filter((p) => /^templates\/[^/]+\/template\.json$/.test(p)).sort();
    for (const path of templateFiles.slice(0, this.maxEntries)) {
      const text = await readBlob(path, MAX_MANIFEST_BYTES);
      if (text === null) continue;
      const raw = parseJson(path, text);
      if (raw === undefined) continue;
      const parsed = createTemplateSchema.safeParse(raw);
      if (!parsed.success) {
        skipped.push(`${path}: ${parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ').slice(0, 300)}`);
        continue;
      }
      const t = parsed.data as Record<string, unknown>;
      const extra = raw as Record<string, unknown>;
      templates.push({
        dir: path.split('/')[1],
        template: t,
        name: String(t.name),
        description: typeof t.description === 'string' ? t.description : '',
        category: typeof extra.category === 'string' ? extra.category.slice(0, 64) : null,
        tags: Array.isArray(t.tags) ? (t.tags as unknown[]).filter((x): x is string => typeof x === 'string').slice(0, 20) : [],
      });
    }
    if (pluginManifests.length > this.maxEntries) skipped.push(`plugins: only the first ${this.maxEntries} are read`);
    if (templateFiles.length > this.maxEntries) skipped.push(`templates: only the first ${this.maxEntries} are read`);
    return { commit, plugins, templates, skipped };
  }
}

/** The catalog id of an entry: stable across syncs of one repository (a name-based UUID). */
export function catalogId(repositoryId: string, kind: 'plugin' | 'template', dir: string): string {
  const hash = createHash('sha256').update(`encedeus:catalog:${repositoryId}:${kind}:${dir}`).digest();
  hash[6] = (hash[6] & 0x0f) | 0x50;
  hash[8] = (hash[8] & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
