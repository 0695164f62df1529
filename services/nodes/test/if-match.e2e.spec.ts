import type { NodeView, ServerView, TemplateView } from '@encedeus/contracts';
import { enrolledNode, NODE_ECHO_TEMPLATE, serverProbes, startFleet, type FleetHarness } from './fleet-harness';

/**
 * If-Match on the fleet's aggregate commands (the gateway sends it as `expectedVersion`): a stale
 * version is refused with 412 PRECONDITION_FAILED naming the current version, and nothing is
 * recorded; the current version is accepted and the reply carries the new one (the ETag).
 */
describe('If-Match on fleet commands', () => {
  let h: FleetHarness;
  let nodeId: string;

  beforeAll(async () => {
    h = await startFleet();
    ({ nodeId } = await enrolledNode(h, 'if-match'));
  }, 60_000);
  afterAll(() => h?.stop());

  const sendIfMatch = <T>(verb: string, data: unknown, expectedVersion: number) =>
    h.client.send<T>('nodes', verb, data, { actor: h.actor, expectedVersion }, { timeoutMs: 60_000 });
  const eventCount = async (subject: string) => {
    let n = 0;
    for await (const _ of h.store.readStream(subject)) n++;
    return n;
  };

  it('refuses a stale If-Match on a server update, delete and power action, and accepts the current one', async () => {
    const created = await h.send<ServerView>('create_server', { name: `im-${Date.now()}`, template_id: NODE_ECHO_TEMPLATE, node_id: nodeId });
    await serverProbes(h).waitState(created.id, 'offline');
    const current = await h.send<ServerView>('get_server', { id: created.id });
    const before = await eventCount(`evt.server.${created.id}`);

    for (const [verb, data] of [
      ['update_server', { id: created.id, name: 'renamed' }],
      ['power', { id: created.id, action: 'start' }],
      ['delete_server', { id: created.id }],
    ] as const) {
      await expect(sendIfMatch(verb, data, current.version - 1)).rejects.toMatchObject({ code: 'PRECONDITION_FAILED', details: { currentVersion: current.version } });
    }
    expect(await eventCount(`evt.server.${created.id}`)).toBe(before);

    const renamed = await sendIfMatch<ServerView>('update_server', { id: created.id, name: 'renamed' }, current.version);
    expect(renamed).toMatchObject({ name: 'renamed', version: current.version + 1 });
    expect(await h.send<ServerView>('get_server', { id: created.id })).toMatchObject({ name: 'renamed', version: renamed.version });
    await expect(sendIfMatch('delete_server', { id: created.id }, current.version)).rejects.toMatchObject({ code: 'PRECONDITION_FAILED', details: { currentVersion: renamed.version } });
    await sendIfMatch('delete_server', { id: created.id }, renamed.version);
    await expect(h.send('get_server', { id: created.id })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  }, 60_000);

  it('refuses a stale If-Match on a node update and drain', async () => {
    const node = await h.createNode(`im-node-${Date.now()}`);
    await expect(sendIfMatch('update_node', { id: node.id, name: 'x' }, node.version + 1)).rejects.toMatchObject({ code: 'PRECONDITION_FAILED', details: { currentVersion: node.version } });
    await expect(sendIfMatch('drain_node', { id: node.id }, 0)).rejects.toMatchObject({ code: 'PRECONDITION_FAILED' });

    const updated = await sendIfMatch<NodeView>('update_node', { id: node.id, name: 'renamed-node' }, node.version);

    expect(updated).toMatchObject({ name: 'renamed-node', version: node.version + 1 });
    await h.send('delete_node', { id: node.id });
  });

  it('refuses a stale If-Match on a template update and delete', async () => {
    const template = await h.send<TemplateView>('create_template', {
      name: `im-template-${Date.now()}`,
      driver: 'process',
      startup: 'sleep 1',
      limits: { memory_mb: 64, cpu_percent: 10, disk_mb: 64 },
    });
    await expect(sendIfMatch('update_template', { id: template.id, startup: 'sleep 2' }, template.version + 3)).rejects.toMatchObject({
      code: 'PRECONDITION_FAILED',
      details: { currentVersion: template.version },
    });
    const updated = await sendIfMatch<TemplateView>('update_template', { id: template.id, startup: 'sleep 2' }, template.version);
    expect(updated).toMatchObject({ startup: 'sleep 2', version: template.version + 1 });

    await expect(sendIfMatch('delete_template', { id: template.id }, template.version)).rejects.toMatchObject({ code: 'PRECONDITION_FAILED' });
    await expect(sendIfMatch('delete_template', { id: template.id }, updated.version)).resolves.toMatchObject({ deleted: true });
  });
});
