import { StorageType, type KV, type NatsConnection } from 'nats';
import { DomainError, PLUGIN_API } from '@encedeus/contracts';
import { CommandClient, streamReplicas } from '@encedeus/messaging';
import type { CapabilityHandler } from '../sandbox/plugin-sandbox';
import { pluginHttp, PluginHttpAgents } from './plugin-http';

/** One JetStream KV bucket for every plugin; each plugin's keys live under its own prefix. */
export const PLUGIN_KV_BUCKET = 'plugins_kv';
const MAX_KV_VALUE_BYTES = 64 * 1024;
const KEY = /^[A-Za-z0-9_=-]{1,128}$/;
const MAX_HTTP_RESPONSE_BYTES = 1024 * 1024;
const MAX_HTTP_BODY_BYTES = 256 * 1024;

/** The bucket, created on first use. */
export async function openPluginKv(nc: NatsConnection): Promise<KV> {
  return nc.jetstream().views.kv(PLUGIN_KV_BUCKET, { history: 1, storage: StorageType.File, replicas: streamReplicas(), maxValueSize: MAX_KV_VALUE_BYTES + 1024 });
}

/** The key prefix of one plugin in the bucket. */
export function kvPrefix(pluginId: string): string {
  return `p${pluginId.replace(/-/g, '')}`;
}

/** Deletes every key of a plugin (uninstall): purges its subjects from the bucket's stream. */
export async function purgePluginKv(nc: NatsConnection, pluginId: string): Promise<void> {
  await openPluginKv(nc);
  const jsm = await nc.jetstreamManager();
  await jsm.streams.purge(`KV_${PLUGIN_KV_BUCKET}`, { filter: `$KV.${PLUGIN_KV_BUCKET}.${kvPrefix(pluginId)}.>` });
}

export interface CapabilityDeps {
  nc: NatsConnection;
  commands: CommandClient;
  /** Timeout of one ctx.http call. @default 5000 */
  httpTimeoutMs?: number;
}

/** Whether `url` is allowed by the manifest's `http:<host>` grants (exact host:port, or the host name when the grant has no port). */
export function httpAllowed(permissions: readonly string[], url: URL): boolean {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  if (url.username || url.password) return false;
  return permissions.some((p) => {
    if (!p.startsWith('http:')) return false;
    const granted = p.slice(5).toLowerCase();
    return granted.includes(':') ? granted === url.host.toLowerCase() : granted === url.hostname.toLowerCase() && url.port === '';
  });
}

/**
 * What a plugin's `ctx` does on the host: each capability checks the manifest's grant again (the
 * sandbox leaves an ungranted one out of ctx, but the host does not trust the sandbox).
 * - kv: per-plugin keys in PLUGIN_KV_BUCKET, JSON values up to 64 KiB;
 * - http: GET/POST to granted hosts only, no redirects followed, bounded time and size; a granted
 *   host NAME is connected to only when all its addresses are public (plugin-http.ts), so a name
 *   resolving to loopback or a private range cannot reach this machine's services;
 * - api: the verbs of PLUGIN_API whose permission is granted (`api:<permission>`), sent as the
 *   plugin (`plugin:<id>`), so the events they cause name the plugin as actor.
 */
/** A plugin's capability handler; `close()` ends its kept-alive HTTP connections. */
export type PluginCapabilities = CapabilityHandler & { close(): void };

export function pluginCapabilities(pluginId: string, permissions: readonly string[], deps: CapabilityDeps): PluginCapabilities {
  let kv: Promise<KV> | undefined;
  let agents: PluginHttpAgents | undefined;
  const bucket = () => (kv ??= openPluginKv(deps.nc));
  const key = (k: unknown) => {
    if (typeof k !== 'string' || !KEY.test(k)) throw new Error('ctx.kv: a key is 1-128 letters, digits, _, = or -');
    return `${kvPrefix(pluginId)}.${k}`;
  };
  const http = async (method: 'GET' | 'POST', rawUrl: unknown, body?: unknown) => {
    let url: URL;
    try {
      url = new URL(String(rawUrl));
    } catch {
      throw new Error('ctx.http: not a URL');
    }
    if (!httpAllowed(permissions, url)) throw new Error(`ctx.http: ${url.host} is not granted by the manifest (http:<host>)`);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined && Buffer.byteLength(payload) > MAX_HTTP_BODY_BYTES) throw new Error(`ctx.http: the body is larger than ${MAX_HTTP_BODY_BYTES} bytes`);
    const res = await pluginHttp(url, method, payload, deps.httpTimeoutMs ?? 5000, MAX_HTTP_RESPONSE_BYTES, (agents ??= new PluginHttpAgents()));
    const text = res.body;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, body: text, ...(json !== undefined ? { json } : {}) };
  };

  const handler: CapabilityHandler = async (capability, args) => {
    switch (capability) {
      case 'kv.get':
      case 'kv.set':
      case 'kv.delete': {
        if (!permissions.includes('kv')) throw new Error('ctx.kv is not granted by the manifest (kv)');
        const k = key(args[0]);
        const b = await bucket();
        if (capability === 'kv.get') {
          const entry = await b.get(k);
          if (!entry || entry.operation !== 'PUT' || entry.length === 0) return null;
          return JSON.parse(entry.string());
        }
        if (capability === 'kv.delete') {
          await b.delete(k);
          return null;
        }
        const value = JSON.stringify(args[1] ?? null);
        if (Buffer.byteLength(value) > MAX_KV_VALUE_BYTES) throw new Error(`ctx.kv: a value is at most ${MAX_KV_VALUE_BYTES} bytes of JSON`);
        await b.put(k, value);
        return null;
      }
      case 'http.get':
        return http('GET', args[0]);
      case 'http.post':
        return http('POST', args[0], args[1]);
      case 'api.call': {
        const verb = String(args[0]);
        const api = Object.prototype.hasOwnProperty.call(PLUGIN_API, verb) ? PLUGIN_API[verb] : undefined;
        if (!api) throw new Error(`ctx.api: unknown verb ${verb.slice(0, 100)} (known: ${Object.keys(PLUGIN_API).join(', ')})`);
        if (!permissions.includes(`api:${api.permission}`)) throw new Error(`ctx.api: ${verb} needs api:${api.permission}, which the manifest does not grant`);
        const params = api.params.safeParse(args[1]);
        if (!params.success) throw new Error(`ctx.api: ${verb}: ${params.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`);
        try {
          return await deps.commands.send(api.service, api.verb, params.data, { actor: `plugin:${pluginId}` }, { timeoutMs: 30_000 });
        } catch (error) {
          const code = error instanceof DomainError ? `${error.code}: ` : '';
          throw new Error(`ctx.api: ${verb}: ${code}${(error as Error).message}`);
        }
      }
      default:
        throw new Error(`unknown capability ${capability.slice(0, 50)}`);
    }
  };
  return Object.assign(handler, {
    close: () => {
      agents?.close();
      agents = undefined;
    },
  });
}
