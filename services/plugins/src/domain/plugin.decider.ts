import {
  ConflictError,
  event,
  ForbiddenError,
  NotFoundError,
  PluginConfigChanged,
  PluginDisabled,
  PluginEnabled,
  PluginInstalled,
  PluginRated,
  PluginSuspended,
  PluginUninstalled,
  pluginRisk,
  type CloudEvent,
  type EventData,
  type NewEvent,
  type PluginRisk,
  type PluginState,
} from '@encedeus/contracts';
import type { Decider } from '@encedeus/messaging';
import { validatePluginConfig } from './config-validation';

/** An installed plugin (aggregate `plugin`, id = the installation). */
export interface InstalledPlugin {
  installed: boolean;
  uninstalled: boolean;
  state: PluginState;
  catalogId: string;
  name: string;
  events: string[];
  permissions: string[];
  risk: PluginRisk;
  configSchema: unknown;
  config: unknown;
  code: string;
  suspendedReason: string | null;
}

export const initialPlugin = (): InstalledPlugin => ({
  installed: false,
  uninstalled: false,
  state: 'disabled',
  catalogId: '',
  name: '',
  events: [],
  permissions: [],
  risk: 'low',
  configSchema: null,
  config: {},
  code: '',
  suspendedReason: null,
});

/** What install needs of the catalog entry (loaded by the handler). */
export type InstallFrom = Omit<EventData<typeof PluginInstalled>, 'config' | 'risk' | 'approved_by'>;

export type PluginCommand =
  | { type: 'install'; from: InstallFrom; config: unknown; actor: string; approve: boolean; isAdmin: boolean }
  | { type: 'enable' }
  | { type: 'disable' }
  | { type: 'suspend'; reason: string; failures: number }
  | { type: 'configure'; config: unknown }
  | { type: 'rate'; userId: string; rating: number; review: string | null }
  | { type: 'uninstall' };

export function evolvePlugin(state: InstalledPlugin, e: Pick<CloudEvent, 'type' | 'data'>): InstalledPlugin {
  const d = e.data as Record<string, any>;
  switch (e.type) {
    case PluginInstalled.type:
      return {
        ...state,
        installed: true,
        state: 'disabled',
        catalogId: d.catalog_id,
        name: d.name,
        events: d.events,
        permissions: d.permissions,
        risk: d.risk,
        configSchema: d.config_schema,
        config: d.config,
        code: d.code,
      };
    case PluginEnabled.type:
      return { ...state, state: 'enabled', suspendedReason: null };
    case PluginDisabled.type:
      return { ...state, state: 'disabled' };
    case PluginSuspended.type:
      return { ...state, state: 'suspended', suspendedReason: d.reason };
    case PluginConfigChanged.type:
      return { ...state, config: d.config };
    case PluginUninstalled.type:
      return { ...state, uninstalled: true, state: 'disabled' };
    default:
      return state;
  }
}

function existing(state: InstalledPlugin): void {
  if (!state.installed || state.uninstalled) throw new NotFoundError('Plugin');
}

function decide(command: PluginCommand, state: InstalledPlugin): readonly NewEvent[] {
  switch (command.type) {
    case 'install': {
      // A retried install (same idempotency key → same id) lands here and changes nothing.
      if (state.installed) {
        if (state.uninstalled) throw new ConflictError('This installation was uninstalled; install the plugin again');
        return [];
      }
      const risk = pluginRisk(command.from.permissions);
      if (risk === 'high' && !command.approve) {
        throw new ForbiddenError('This plugin calls the API with write permissions (high risk): an administrator must approve it (approve: true)', {
          risk,
          permissions: command.from.permissions,
        });
      }
      if (risk === 'high' && !command.isAdmin) throw new ForbiddenError('Only an administrator may approve a high-risk plugin', { risk, permissions: command.from.permissions });
      const config = command.config ?? {};
      validatePluginConfig(command.from.config_schema, config);
      return [
        event(PluginInstalled, { ...command.from, config, risk, approved_by: risk === 'high' ? command.actor : null }),
        event(PluginEnabled, {}),
      ];
    }
    case 'enable':
      existing(state);
      return state.state === 'enabled' ? [] : [event(PluginEnabled, {})];
    case 'disable':
      existing(state);
      return state.state === 'disabled' ? [] : [event(PluginDisabled, {})];
    case 'suspend':
      // Only a running plugin is suspended: a disable that raced the failure wins.
      if (!state.installed || state.uninstalled || state.state !== 'enabled') return [];
      return [event(PluginSuspended, { reason: command.reason, failures: command.failures })];
    case 'configure':
      existing(state);
      validatePluginConfig(state.configSchema, command.config);
      return [event(PluginConfigChanged, { config: command.config })];
    case 'rate':
      existing(state);
      return [event(PluginRated, { catalog_id: state.catalogId, name: state.name, user_id: command.userId, rating: command.rating, review: command.review })];
    case 'uninstall':
      existing(state);
      return [event(PluginUninstalled, {})];
  }
}

export const pluginDecider: Decider<InstalledPlugin, PluginCommand> = {
  name: 'plugin-v1',
  initialState: initialPlugin,
  evolve: evolvePlugin,
  decide,
};
