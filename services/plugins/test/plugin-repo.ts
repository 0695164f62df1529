import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** A local Git repository of plugins and templates (the contract's layout), reached as `file://`. */
export interface LocalRepo {
  dir: string;
  url: string;
  /** Writes files (path → content; objects are written as JSON) and commits them. */
  commit(files: Record<string, string | object>, message?: string): string;
  remove(): void;
}

export function localRepo(): LocalRepo {
  const dir = mkdtempSync(join(tmpdir(), 'encedeus-plugin-repo-'));
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.test', ...args], { cwd: dir, encoding: 'utf8' }).trim();
  git('init', '--quiet', '-b', 'main');
  return {
    dir,
    url: `file://${dir}`,
    commit(files, message = 'update') {
      for (const [path, content] of Object.entries(files)) {
        mkdirSync(dirname(join(dir, path)), { recursive: true });
        writeFileSync(join(dir, path), typeof content === 'string' ? content : JSON.stringify(content, null, 2));
      }
      git('add', '-A');
      git('commit', '--quiet', '-m', message);
      return git('rev-parse', 'HEAD');
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A plugin's two files under `plugins/<dir>/`. */
export function plugin(dir: string, manifest: object, code: string): Record<string, string | object> {
  return { [`plugins/${dir}/plugin.json`]: { entry: 'index.js', version: '1.0.0', ...manifest }, [`plugins/${dir}/index.js`]: code };
}

/** A loopback HTTP server that records every JSON body posted to it. */
export interface Sink {
  url: string;
  host: string;
  posts: { at: number; body: any }[];
  close(): Promise<void>;
}

export async function startSink(): Promise<Sink> {
  const posts: { at: number; body: any }[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        posts.push({ at: Date.now(), body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      } catch {
        posts.push({ at: Date.now(), body: null });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    host: `127.0.0.1:${port}`,
    posts,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
