import { healthServicesFromEnv } from './health.controller';

describe('healthServicesFromEnv (the services a production /health asks)', () => {
  it('asks every deployed service, the plugins service included', () => {
    expect(healthServicesFromEnv({})).toEqual(['auth', 'users', 'nodes', 'metrics', 'files', 'plugins']);
  });

  it('takes GATEWAY_HEALTH_SERVICES and refuses a name that is not a service', () => {
    expect(healthServicesFromEnv({ GATEWAY_HEALTH_SERVICES: 'auth, users,nodes,plugins' })).toEqual(['auth', 'users', 'nodes', 'plugins']);
    expect(() => healthServicesFromEnv({ GATEWAY_HEALTH_SERVICES: 'auth,gateway' })).toThrow(/unknown service/);
  });
});
