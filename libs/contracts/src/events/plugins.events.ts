import { z } from 'zod';
import { jsonValue, text } from '../text';
import { defineEvent } from './registry';

/*
 * Events of the plugins service (issue 13, docs/plugins.md), all on the `plugin` aggregate:
 * an installed plugin is `evt.plugin.<installation id>`, a repository of plugins and templates is
 * `evt.plugin.<repository id>` (its types say `repository_`). Ids are UUIDs, so the two never meet.
 */

const config = jsonValue({ maxDepth: 12, maxValues: 2000 });
const strings = z.array(text());

export const PluginRepositoryAdded = defineEvent(
  'plugin.repository_added',
  z.object({ name: text(), url: text(), branch: text() }),
  'A Git repository of plugins (plugins/<dir>/plugin.json) and templates (templates/<dir>/template.json) was added.',
);
export const PluginRepositorySynced = defineEvent(
  'plugin.repository_synced',
  z.object({ commit: text().nullable(), plugins: z.number().int(), templates: z.number().int(), error: text().nullable(), skipped: strings.optional() }),
  'A repository was fetched: its catalog now holds what this commit holds (appended when the commit or the error changes, not on every scheduled sync).',
);
export const PluginRepositoryRemoved = defineEvent('plugin.repository_removed', z.object({}), 'A repository was removed with its catalog entries; installed plugins stay.');

export const PluginInstalled = defineEvent(
  'plugin.installed',
  z.object({
    catalog_id: z.uuid(),
    repository_id: z.uuid(),
    commit: text().nullable(),
    name: text(),
    version: text(),
    description: text(),
    events: strings,
    permissions: strings,
    risk: z.enum(['low', 'medium', 'high']),
    config_schema: config.nullable(),
    config,
    /** The entry file, at most MAX_PLUGIN_CODE_BYTES: the installed version runs whatever the repository does next. */
    code: text(),
    sha256: text(),
    /** Who approved a high-risk plugin's permissions (the installer, an admin); null below high. */
    approved_by: text().nullable(),
  }),
  'A plugin was installed from the catalog with its configuration; it is enabled by the plugin.enabled that follows.',
);
export const PluginEnabled = defineEvent(
  'plugin.enabled',
  z.object({ resume_from: z.number().int().optional() }),
  "A plugin receives events again: from where it stopped (its durable's position), events appended meanwhile included.",
);
export const PluginDisabled = defineEvent('plugin.disabled', z.object({}), 'A plugin receives no more events until enabled; its consumer keeps its position.');
export const PluginSuspended = defineEvent(
  'plugin.suspended',
  z.object({ reason: text(), failures: z.number().int() }),
  'A plugin failed too many events in a row (CPU budget, memory limit, a throw) and was stopped; enable it to resume.',
);
export const PluginConfigChanged = defineEvent('plugin.config_changed', z.object({ config }), "A plugin's configuration was replaced (validated against its config_schema).");
export const PluginRated = defineEvent(
  'plugin.rated',
  z.object({ catalog_id: z.uuid(), name: text(), user_id: text(), rating: z.number().int(), review: text().nullable() }),
  "A user rated the plugin (1–5) with an optional review; the user's latest rating counts.",
);
export const PluginUninstalled = defineEvent('plugin.uninstalled', z.object({}), "A plugin was removed with its consumer and its key-value entries.");

export const PLUGIN_EVENTS = [
  PluginRepositoryAdded,
  PluginRepositorySynced,
  PluginRepositoryRemoved,
  PluginInstalled,
  PluginEnabled,
  PluginDisabled,
  PluginSuspended,
  PluginConfigChanged,
  PluginRated,
  PluginUninstalled,
] as const;
