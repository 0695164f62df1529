import { pluginFilterSubject, pluginManifestSchema, pluginRisk, pluginWantsEvent } from './plugins';

describe('pluginRisk', () => {
  it('is low for kv and log, medium for http or a read-only api, high for an api that changes things', () => {
    expect(pluginRisk(['kv', 'log'])).toBe('low');
    expect(pluginRisk(['http:hooks.example.com'])).toBe('medium');
    expect(pluginRisk(['api:servers.read'])).toBe('medium');
    expect(pluginRisk(['kv', 'api:servers.power'])).toBe('high');
  });
});

describe('pluginManifestSchema', () => {
  const base = { name: 'hook', version: '1.0.0', entry: 'index.js', events: ['server.*'] };

  it('takes the contract names and refuses unknown api permissions and escaping entries', () => {
    expect(pluginManifestSchema.safeParse({ ...base, permissions: ['kv', 'http:127.0.0.1:8080', 'api:servers.power'] }).success).toBe(true);
    expect(pluginManifestSchema.safeParse({ ...base, permissions: ['api:everything.now'] }).success).toBe(false);
    expect(pluginManifestSchema.safeParse({ ...base, permissions: ['fs'] }).success).toBe(false);
    expect(pluginManifestSchema.safeParse({ ...base, entry: '../../etc/passwd' }).success).toBe(false);
    expect(pluginManifestSchema.safeParse({ ...base, events: ['evt.>'] }).success).toBe(false);
  });
});

describe('pluginFilterSubject / pluginWantsEvent', () => {
  it('filters one aggregate on the server and the types on the host', () => {
    expect(pluginFilterSubject(['server.started', 'server.stopped'])).toBe('evt.server.>');
    expect(pluginFilterSubject(['server.*', 'user.created'])).toBe('evt.>');
    expect(pluginFilterSubject(['*'])).toBe('evt.>');
    expect(pluginWantsEvent(['server.started'], 'server.started')).toBe(true);
    expect(pluginWantsEvent(['server.started'], 'server.stopped')).toBe(false);
    expect(pluginWantsEvent(['server.*'], 'server.stopped')).toBe(true);
    expect(pluginWantsEvent(['*'], 'user.created')).toBe(true);
  });
});
