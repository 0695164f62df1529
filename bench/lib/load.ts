import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fmt } from './harness';

/** What a load child prints: latency in ms at µs resolution. */
export interface LoadResult {
  requests: number;
  durationS: number;
  rps: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  statuses: Record<string, number>;
  maxInflight?: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  error?: string;
}

export interface RequestOptions {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** A binary body (MessagePack), base64 on the command line. */
  bodyBase64?: string;
}

/** Closed loop: autocannon with N connections, one request in flight each (lib/load-child.js). */
export function closedLoop(options: RequestOptions & { connections: number; duration: number }): Promise<LoadResult> {
  return child('load-child.js', options);
}

/** Open loop at a constant rate, latency from each request's due time (lib/rate-child.js); `warmup` seconds at the rate come first, unrecorded. */
export function constantRate(options: (RequestOptions | (Omit<RequestOptions, 'url'> & { urls: string[] })) & { rate: number; duration: number; warmup?: number }): Promise<LoadResult> {
  return child('rate-child.js', options);
}

/** constantRate with a lighter client (lib/socket-rate-child.js: the request's bytes on keep-alive sockets, answers read by Content-Length), for a server measured on the same small machine. */
export function constantRateOnSockets(options: RequestOptions & { rate: number; duration: number; warmup?: number }): Promise<LoadResult> {
  return child('socket-rate-child.js', options);
}

export const loadLine = (r: LoadResult) =>
  `${fmt(r.requests)} requests in ${r.durationS} s (${fmt(r.rps)} req/s), p50 ${r.p50.toFixed(2)} ms, p90 ${r.p90.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, max ${r.max.toFixed(2)} ms; ` +
  `non-2xx ${r.non2xx}, errors ${r.errors}, timeouts ${r.timeouts}${r.maxInflight !== undefined ? `, at most ${r.maxInflight} in flight` : ''}`;

function child(script: string, options: object): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [join(__dirname, script), JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (chunk) => (out += chunk));
    proc.once('error', reject);
    proc.once('exit', () => {
      try {
        const result = JSON.parse(out.trim().split('\n').pop() ?? '') as LoadResult;
        if (result.error) reject(new Error(`bench: ${script}: ${result.error}`));
        else resolve(result);
      } catch {
        reject(new Error(`bench: ${script} printed no result: ${out}`));
      }
    });
  });
}
