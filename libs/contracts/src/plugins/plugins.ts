import { z } from 'zod';
import { isPermission, type Permission } from '../permissions';
import { jsonValue, text } from '../text';

/*
 * The plugin contract (issue 13, docs/plugins.md): what a repository holds, what a plugin may ask
 * for, how risky that is, and the REST bodies of the plugins service.
 */

/** Biggest entry file a plugin may ship (the code travels inside plugin.installed). */
export const MAX_PLUGIN_CODE_BYTES = 128 * 1024;
/** Biggest config of an installed plugin, as JSON (it travels in plugin.installed / plugin.config_changed). */
export const MAX_PLUGIN_CONFIG_BYTES = 16 * 1024;
/** Biggest plugin.json / template.json read from a repository. */
export const MAX_MANIFEST_BYTES = 64 * 1024;

/** `http:<host>` (host or host:port), `api:<permission>`, `kv`, `log`. */
export const pluginPermissionSchema = z.union([
  z.literal('kv'),
  z.literal('log'),
  z.string().regex(/^http:[A-Za-z0-9.-]{1,253}(:\d{1,5})?$/, 'http:<host> or http:<host>:<port>'),
  z
    .string()
    .regex(/^api:[a-z]+\.[a-z_]+$/, 'api:<permission>')
    .refine((p) => isPermission(p.slice(4)), 'api:<permission> must name a permission of libs/contracts'),
]);

/** `server.*`, `user.created`, `*` (everything). */
export const pluginEventPatternSchema = z.string().regex(/^(\*|[a-z]+\.(\*|[a-z_]+))$/, '<aggregate>.<type>, <aggregate>.* or *');

/** plugin.json. */
export const pluginManifestSchema = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'lower-case letters, digits and dashes'),
  version: text().min(1).max(64),
  description: text().max(2000).default(''),
  /** The entry file, relative to the plugin's folder. */
  entry: z
    .string()
    .regex(/^[A-Za-z0-9_][A-Za-z0-9_./-]{0,200}$/)
    .refine((p) => !p.split('/').includes('..'), 'must stay inside the plugin folder'),
  events: z.array(pluginEventPatternSchema).min(1).max(32),
  permissions: z.array(pluginPermissionSchema).max(32).default([]),
  config_schema: jsonValue({ maxDepth: 12, maxValues: 2000 }).optional(),
  category: text().max(64).optional(),
  tags: z.array(text().max(64)).max(20).optional(),
});
export type PluginManifest = z.infer<typeof pluginManifestSchema>;

export const PLUGIN_RISKS = ['low', 'medium', 'high'] as const;
export type PluginRisk = (typeof PLUGIN_RISKS)[number];

/**
 * What a plugin may do through `ctx.api.call(verb, params)`: each verb is one command of a service,
 * allowed only when the manifest holds `api:<permission>`. The plugin calls it as `plugin:<id>`.
 */
export const PLUGIN_API: Readonly<Record<string, { service: 'nodes'; verb: string; permission: Permission; params: z.ZodType }>> = {
  'servers.power': {
    service: 'nodes',
    verb: 'power',
    permission: 'servers.power',
    params: z.object({ id: z.uuid(), action: z.enum(['start', 'stop', 'restart', 'kill']) }),
  },
  'servers.get': { service: 'nodes', verb: 'get_server', permission: 'servers.read', params: z.object({ id: z.uuid() }) },
  'templates.get': { service: 'nodes', verb: 'get_template', permission: 'templates.read', params: z.object({ id: z.uuid() }) },
};

/** A permission that only reads (`*.read`): calling it is medium risk, anything else high. */
const readOnly = (permission: string) => permission.endsWith('.read');

/** Risk of a set of plugin permissions: low (kv/log), medium (http, read-only api), high (api that changes things). */
export function pluginRisk(permissions: readonly string[]): PluginRisk {
  if (permissions.some((p) => p.startsWith('api:') && !readOnly(p.slice(4)))) return 'high';
  if (permissions.some((p) => p.startsWith('http:') || p.startsWith('api:'))) return 'medium';
  return 'low';
}

/**
 * The JetStream subject filter of a plugin's durable: one aggregate → `evt.<aggregate>.>`, several
 * or `*` → `evt.>` (nats-server 2.9 has no multi-filter consumers; types are matched by the host).
 */
export function pluginFilterSubject(events: readonly string[]): string {
  const aggregates = new Set(events.map((e) => e.split('.')[0]));
  if (aggregates.size !== 1 || aggregates.has('*')) return 'evt.>';
  return `evt.${[...aggregates][0]}.>`;
}

/** Whether an event type (`server.started`) matches one of the manifest's patterns. */
export function pluginWantsEvent(events: readonly string[], type: string): boolean {
  const [aggregate] = type.split('.');
  return events.some((p) => p === '*' || p === type || p === `${aggregate}.*`);
}

/** The durable consumer of an installed plugin on EVENTS. */
export function pluginDurableName(pluginId: string): string {
  return `plugin_${pluginId.replace(/-/g, '')}`;
}

export const PLUGIN_STATES = ['enabled', 'disabled', 'suspended'] as const;
export type PluginState = (typeof PLUGIN_STATES)[number];

const config = jsonValue({ maxDepth: 12, maxValues: 2000 }).refine(
  (value) => value === undefined || new TextEncoder().encode(JSON.stringify(value) ?? '').length <= MAX_PLUGIN_CONFIG_BYTES,
  `at most ${MAX_PLUGIN_CONFIG_BYTES} bytes of JSON`,
);

export const installPluginSchema = z.object({
  catalog_id: z.uuid(),
  config: config.optional(),
  /** Required for a high-risk plugin: the installer confirms its permissions (admins only). */
  approve: z.boolean().optional(),
});
export type InstallPlugin = z.infer<typeof installPluginSchema>;

export const pluginConfigSchema = z.object({ config });
export const ratePluginSchema = z.object({ rating: z.number().int().min(1).max(5), review: text().max(4000).optional() });

/**
 * The shape of a git URL (`https://`, `ssh://`, `git@host:path`; never an option for git, `-…`).
 * What the service then fetches is narrower (services/plugins git/repository-url.ts): https and ssh
 * to public hosts only; `file://`, `http://` and `git://` only where local repositories are allowed (tests).
 */
export const repositoryUrlSchema = text()
  .max(2000)
  .refine((u) => /^(file|https?|ssh|git):\/\/[^\s]+$/.test(u) || /^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s]+$/.test(u), 'a git URL (file://, https://, ssh://, git@host:path)');
export const addRepositorySchema = z.object({
  name: text().min(1).max(100),
  url: repositoryUrlSchema,
  branch: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$/)
    .refine((b) => !b.includes('..') && !b.endsWith('.lock'), 'not a branch name')
    .default('main'),
});
export type AddRepository = z.infer<typeof addRepositorySchema>;

export const catalogQuerySchema = z.object({
  q: text().max(200).optional(),
  category: text().max(64).optional(),
  tag: text().max(64).optional(),
  repository_id: z.uuid().optional(),
});

export interface CatalogPluginView {
  id: string;
  repository_id: string;
  name: string;
  version: string;
  description: string;
  category: string | null;
  tags: string[];
  events: string[];
  permissions: string[];
  risk: PluginRisk;
  config_schema: unknown;
  avg_rating: number | null;
  rating_count: number;
  install_count: number;
}

export interface CatalogTemplateView {
  id: string;
  repository_id: string;
  name: string;
  description: string;
  category: string | null;
  tags: string[];
  /** The body of POST /templates. */
  template: Record<string, unknown>;
}

export interface InstalledPluginView {
  id: string;
  catalog_id: string;
  name: string;
  version: string;
  state: PluginState;
  risk: PluginRisk;
  events: string[];
  permissions: string[];
  config: unknown;
  installed_by: string;
  installed_at: string;
  last_error: string | null;
  suspended_reason: string | null;
  /** Events of its filter not yet delivered (the durable's pending count), null when unknown. */
  lag: number | null;
  dead_letters: number;
  version_number: number;
}

export interface RepositoryView {
  id: string;
  name: string;
  url: string;
  branch: string;
  status: 'pending' | 'synced' | 'failed';
  commit: string | null;
  last_error: string | null;
  synced_at: string | null;
  plugins: number;
  templates: number;
}

export interface PluginLogLine {
  at: string;
  level: 'info' | 'warn' | 'error';
  message: string;
}
