import { randomUUID } from 'node:crypto';
import type { AgentClient } from '@encedeus/fleet';
import type { FleetReadModel } from '../queries/fleet.read-model';
import type { NodesOptions } from '../nodes.options';
import { AgentCredentials } from './agent-credentials';

/**
 * A server an install just placed on a node counts as the node's (for the credentials minted and
 * the servers a sync sends) until the read model lists it, two minutes at most: a sync built from a
 * read model that had not applied server.created made the agent drop the server it was installing.
 */
describe('AgentCredentials.recentServers', () => {
  const offline = { isOnline: () => false };
  const credentials = () => new AgentCredentials({} as AgentClient, {} as FleetReadModel, offline, {} as NodesOptions);

  afterEach(() => jest.useRealTimers());

  it('keeps an install\'s server for its node until the read model lists it', async () => {
    const creds = credentials();
    const [node, other, server] = [randomUUID(), randomUUID(), randomUUID()];
    expect(await creds.refresh(node, [server])).toBe(false); // offline: nothing sent, the server still counts
    expect(creds.recentServers(node, [])).toEqual([server]);
    expect(creds.recentServers(other, [])).toEqual([]);
    expect(creds.recentServers(node, [server])).toEqual([]);
    // Listed once, the read model governs from then on (a later removal is not undone here).
    expect(creds.recentServers(node, [])).toEqual([]);
  });

  it('forgets a server the read model never listed after two minutes', async () => {
    jest.useFakeTimers({ now: Date.parse('2026-12-02T16:00:00Z') });
    const creds = credentials();
    const [node, server] = [randomUUID(), randomUUID()];
    await creds.refresh(node, [server]);
    jest.setSystemTime(Date.parse('2026-12-02T16:01:59Z'));
    expect(creds.recentServers(node, [])).toEqual([server]);
    jest.setSystemTime(Date.parse('2026-12-02T16:02:01Z'));
    expect(creds.recentServers(node, [])).toEqual([]);
  });

  it('stops counting a server its events put elsewhere', async () => {
    const creds = credentials();
    const [node, server] = [randomUUID(), randomUUID()];
    await creds.refresh(node, [server]);
    creds.forgetRecent(node, server);
    expect(creds.recentServers(node, [])).toEqual([]);
  });

  it('counts nothing for a refresh that names no server (a renewal)', async () => {
    const creds = credentials();
    const node = randomUUID();
    await creds.refresh(node);
    expect(creds.recentServers(node, [])).toEqual([]);
  });
});
