import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { BlockList, isIP } from 'node:net';

/**
 * Addresses a plugin's `ctx.http` never reaches through a host NAME: loopback, private, link-local,
 * CGNAT, unspecified, multicast and reserved ranges (v4 and v6, v4-mapped v6 included). A name a
 * plugin was granted (`http:hooks.example.com`) could otherwise resolve, by its owner's choice or by
 * rebinding, to the gateway, NATS monitoring or Postgres on this machine's loopback. A grant of an IP
 * literal (`http:127.0.0.1:8080`) is the administrator's explicit choice and is not resolved.
 */
const INTERNAL = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 3],
] as const)
  INTERNAL.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96],
  ['2002::', 16],
] as const)
  INTERNAL.addSubnet(net, prefix, 'ipv6');

/** Whether `address` (an IP) is outside every internal range above. */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return !INTERNAL.check(address, 'ipv4');
  if (family !== 6) return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return !INTERNAL.check(mapped[1], 'ipv4');
  return !INTERNAL.check(address, 'ipv6');
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** dns.lookup for the socket itself (so the address checked is the address connected to): a name with any internal address fails. */
function publicLookup(hostname: string, options: { all?: boolean; family?: number }, callback: LookupCallback): void {
  dnsLookup(hostname, { all: true, family: options.family ?? 0 }, (error, addresses) => {
    if (error) return callback(error, []);
    const internal = addresses.find((a) => !isPublicAddress(a.address));
    if (internal || addresses.length === 0) {
      const refused = Object.assign(new Error(`ctx.http: ${hostname} resolves to an internal address (${internal?.address ?? 'none'}); grant an IP literal to reach one`), { code: 'EINTERNALADDR' });
      return callback(refused, []);
    }
    if (options.all) return callback(null, addresses);
    callback(null, addresses[0].address, addresses[0].family);
  });
}

export interface PluginHttpResponse {
  status: number;
  body: string;
}

/**
 * One plugin's keep-alive connections (a webhook plugin posting every event paid a TCP connect per
 * event, and the tail of its latency). Each new socket still goes through publicLookup, so a kept
 * connection is one whose address was checked when it was opened. Idle sockets close after 2 s;
 * `close()` ends them all (the plugin stopped).
 */
export class PluginHttpAgents {
  readonly http = new HttpAgent({ keepAlive: true, keepAliveMsecs: 1000, maxSockets: 8, maxFreeSockets: 2, timeout: 2000, scheduling: 'lifo' });
  readonly https = new HttpsAgent({ keepAlive: true, keepAliveMsecs: 1000, maxSockets: 8, maxFreeSockets: 2, timeout: 2000, scheduling: 'lifo' });

  close(): void {
    this.http.destroy();
    this.https.destroy();
  }
}

/**
 * One request of `ctx.http`: no redirects followed, `timeoutMs` for the whole exchange, a response
 * of at most `maxResponseBytes`, and a host name connected to only when all its addresses are public.
 * With `agents`, connections are kept alive; a request whose reused connection the server had just
 * closed (ECONNRESET before any answer) is sent once more on a new one.
 */
export async function pluginHttp(url: URL, method: 'GET' | 'POST', payload: string | undefined, timeoutMs: number, maxResponseBytes: number, agents?: PluginHttpAgents): Promise<PluginHttpResponse> {
  try {
    return await pluginHttpOnce(url, method, payload, timeoutMs, maxResponseBytes, agents);
  } catch (error) {
    if (agents && (error as { reusedSocket?: boolean }).reusedSocket && (error as NodeJS.ErrnoException).code === 'ECONNRESET') {
      return pluginHttpOnce(url, method, payload, timeoutMs, maxResponseBytes, agents);
    }
    throw error;
  }
}

function pluginHttpOnce(url: URL, method: 'GET' | 'POST', payload: string | undefined, timeoutMs: number, maxResponseBytes: number, agents?: PluginHttpAgents): Promise<PluginHttpResponse> {
  return new Promise((resolvePromise, rejectPromise) => {
    let timer: NodeJS.Timeout | undefined = undefined;
    const resolve = (value: PluginHttpResponse) => {
      clearTimeout(timer);
      resolvePromise(value);
    };
    const reject = (error: Error) => {
      clearTimeout(timer);
      rejectPromise(error);
    };
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const headers: Record<string, string | number> = payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) };
    const agent = agents ? (url.protocol === 'https:' ? agents.https : agents.http) : false;
    let answered = false;
    const req = request(url, { method, headers, lookup: publicLookup as never, agent }, (res: IncomingMessage) => {
      answered = true;
      const parts: Buffer[] = [];
      let size = 0;
      res.on('data', (data: Buffer) => {
        if (size > maxResponseBytes) return;
        size += data.length;
        if (size > maxResponseBytes) {
          req.destroy(new Error(`ctx.http: the response is larger than ${maxResponseBytes} bytes`));
          return;
        }
        parts.push(data);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8') }));
      res.on('error', reject);
    });
    timer = setTimeout(() => req.destroy(new Error(`ctx.http: no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (error) => reject(answered ? error : Object.assign(error, { reusedSocket: req.reusedSocket })));
    req.end(payload);
  });
}
