import { ForbiddenError, NotFoundError, PluginEnabled, PluginInstalled, ValidationError, type NewEvent } from '@encedeus/contracts';
import { NO_STREAM } from '@encedeus/messaging';
import { evolvePlugin, initialPlugin, pluginDecider, type InstallFrom, type PluginCommand } from './plugin.decider';

const from = (permissions: string[], configSchema: unknown = null): InstallFrom => ({
  catalog_id: '00000000-0000-4000-8000-000000000001',
  repository_id: '00000000-0000-4000-8000-000000000002',
  commit: 'abc',
  name: 'hook',
  version: '1.0.0',
  description: '',
  events: ['server.*'],
  permissions,
  config_schema: configSchema,
  code: 'export default {}',
  sha256: 'x',
});
const given = (events: NewEvent[]) => events.reduce((s, e) => evolvePlugin(s, e as never), initialPlugin());
const decide = (events: NewEvent[], command: PluginCommand) => pluginDecider.decide(command, given(events), NO_STREAM);
const install = (permissions: string[], extra: Partial<Extract<PluginCommand, { type: 'install' }>> = {}): PluginCommand => ({
  type: 'install',
  from: from(permissions, { type: 'object', required: ['url'], properties: { url: { type: 'string', minLength: 3 } } }),
  config: { url: 'http://x' },
  actor: 'user:a',
  approve: false,
  isAdmin: false,
  ...extra,
});

describe('decide(install)', () => {
  it('installs and enables a low-risk plugin', () => {
    const events = decide([], install(['kv']));

    expect(events.map((e) => e.type)).toEqual([PluginInstalled.type, PluginEnabled.type]);
    expect((events[0].data as { risk: string }).risk).toBe('low');
  });

  it('refuses a config its schema refuses, naming the field', () => {
    const act = () => decide([], install(['kv'], { config: { url: 1 } }));

    expect(act).toThrow(ValidationError);
    try {
      act();
    } catch (error) {
      expect((error as ValidationError).fields.map((f) => f.path)).toEqual(['config.url']);
    }
  });

  it('refuses a high-risk plugin without approval, and an approval by a non-admin', () => {
    expect(() => decide([], install(['api:servers.power']))).toThrow(ForbiddenError);
    expect(() => decide([], install(['api:servers.power'], { approve: true }))).toThrow(ForbiddenError);

    const events = decide([], install(['api:servers.power'], { approve: true, isAdmin: true }));

    expect((events[0].data as { risk: string; approved_by: string }).risk).toBe('high');
    expect((events[0].data as { approved_by: string }).approved_by).toBe('user:a');
  });

  it('changes nothing on a retried install', () => {
    const installed = decide([], install(['kv']));

    expect(decide([...installed], install(['kv']))).toEqual([]);
  });
});

describe('decide(enable, disable, suspend, uninstall)', () => {
  const installed = () => [...decide([], install(['kv']))];

  it('disables, then enables again; repeating either changes nothing', () => {
    const disabled = [...installed(), ...decide(installed(), { type: 'disable' })];

    expect(decide(disabled, { type: 'disable' })).toEqual([]);
    expect(decide(disabled, { type: 'enable' }).map((e) => e.type)).toEqual(['plugin.enabled']);
  });

  it('suspends only a running plugin, with the reason', () => {
    const suspended = decide(installed(), { type: 'suspend', reason: 'CPU budget', failures: 3 });

    expect(suspended).toEqual([{ type: 'plugin.suspended', data: { reason: 'CPU budget', failures: 3 } }]);
    expect(given([...installed(), ...suspended]).suspendedReason).toBe('CPU budget');
    expect(decide([...installed(), ...decide(installed(), { type: 'disable' })], { type: 'suspend', reason: 'x', failures: 3 })).toEqual([]);
  });

  it('refuses commands on an uninstalled plugin', () => {
    const gone = [...installed(), ...decide(installed(), { type: 'uninstall' })];

    expect(() => decide(gone, { type: 'enable' })).toThrow(NotFoundError);
  });
});
