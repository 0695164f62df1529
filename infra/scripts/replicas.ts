/** `npm run dev -- --replicas N`: how many instances dev.ts runs, and what it calls them. */

/** Services in start order; each is a NestJS app under services/<name>/src/main.ts. The gateway starts after them. */
export const SERVICES: readonly string[] = ['auth', 'users', 'nodes', 'files', 'metrics', 'plugins'];

/** Most instances of each service `--replicas` accepts: each is a Node process of its own. */
export const MAX_REPLICAS = 8;

/**
 * How many instances of each service and gateway to run: `--replicas N` (or `--replicas=N`) among
 * `argv`, else ENCEDEUS_REPLICAS, else 1. Anything but a whole number from 1 to MAX_REPLICAS throws.
 */
export function replicaCount(argv: readonly string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): number {
  let raw: string | undefined = env.ENCEDEUS_REPLICAS || undefined;
  let source = 'ENCEDEUS_REPLICAS';
  for (let i = 0; i < argv.length; i++) {
    const match = /^--replicas(?:=(.*))?$/.exec(argv[i]);
    if (!match) continue;
    raw = match[1] ?? argv[++i] ?? '';
    source = '--replicas';
  }
  if (raw === undefined) return 1;
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || n < 1 || n > MAX_REPLICAS) throw new Error(`${source} must be a whole number from 1 to ${MAX_REPLICAS} (got ${JSON.stringify(raw)})`);
  return n;
}

/** The supervisor's name of instance `index` (0-based) of `service`: `nodes` alone, `nodes-1`, `nodes-2` … with replicas. */
export function instanceName(service: string, index: number, replicas: number): string {
  return replicas === 1 ? service : `${service}-${index + 1}`;
}
