import { NodeCameOnline, NodeCreated, NodeDeleted, NodeDrained, NodeEnrolled, NodeEnrollmentIssued, NodeSpecReported, NodeUpdated, NodeWentOffline, type NewEvent } from '@encedeus/contracts';
import { NO_STREAM } from '@encedeus/messaging';
import { evolveNode, initialNode, nodeDecider, type NodeCommand } from './node.decider';

const data = { name: 'node-1', memory_mb: 4096, cpu_percent: 400, storage_size: '20G', storage_mb: 20_480, tags: ['eu'], enrollment_expires_at: '2026-12-01T00:00:00.000Z' };
const created: NewEvent = { type: NodeCreated.type, data };
const online: NewEvent = { type: NodeCameOnline.type, data: { at: '2026-11-30T12:00:00.000Z' } };
const spec = { cpu: { cores: 4 }, memory_mb: 8192, drivers: ['process'] } as never;

const given = (...events: NewEvent[]) => events.reduce((s, e) => evolveNode(s, { ...e, time: '2026-11-30T12:00:00.000Z' }), initialNode());
const when = (events: NewEvent[], cmd: NodeCommand) => () => nodeDecider.decide(cmd, given(...events), NO_STREAM);
const types = (events: readonly NewEvent[]) => events.map((e) => e.type);

describe('node decider', () => {
  it('creates a node once', () => {
    expect(types(when([], { type: 'create', data })())).toEqual([NodeCreated.type]);
    expect(when([created], { type: 'create', data })()).toEqual([]);
  });

  it('records only the changed fields of an update, with storage_mb for a new storage_size', () => {
    const events = when([created], { type: 'update', id: 'n1', patch: { name: 'node-1', storage_size: '10G', tags: ['eu'] } })();

    expect(events).toEqual([{ type: NodeUpdated.type, data: { storage_size: '10G', storage_mb: 10_240 } }]);
  });

  it('answers 404 for updating, draining or re-enrolling a deleted node', () => {
    const deleted = [created, { type: NodeDeleted.type, data: {} }];

    expect(when(deleted, { type: 'update', id: 'n1', patch: { name: 'x' } })).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
    expect(when(deleted, { type: 'drain', id: 'n1' })).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
    expect(when(deleted, { type: 'issue_enrollment', id: 'n1', expiresAt: 'x' })).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
  });

  it('drains once', () => {
    expect(types(when([created], { type: 'drain', id: 'n1' })())).toEqual([NodeDrained.type]);
    expect(when([created, { type: NodeDrained.type, data: {} }], { type: 'drain', id: 'n1' })()).toEqual([]);
  });

  it('refuses deleting a node that still has servers', () => {
    expect(when([created], { type: 'delete', id: 'n1', liveServers: 2 })).toThrow(expect.objectContaining({ code: 'CONFLICT', details: { servers: 2 } }));
    expect(types(when([created], { type: 'delete', id: 'n1', liveServers: 0 })())).toEqual([NodeDeleted.type]);
  });

  it('enrolls a live node and refuses a deleted one as unauthenticated', () => {
    expect(types(when([created, { type: NodeEnrollmentIssued.type, data: { enrollment_expires_at: 'x' } }], { type: 'enroll', hostname: 'h' })())).toEqual([NodeEnrolled.type]);
    expect(when([], { type: 'enroll' })).toThrow(expect.objectContaining({ code: 'UNAUTHENTICATED' }));
  });

  it('comes online and goes offline only on a change', () => {
    expect(types(when([created], { type: 'came_online', at: 't' })())).toEqual([NodeCameOnline.type]);
    expect(when([created, online], { type: 'came_online', at: 't' })()).toEqual([]);
    expect(types(when([created, online], { type: 'went_offline', lastSeenAt: null, missed: 3 })())).toEqual([NodeWentOffline.type]);
    expect(when([created], { type: 'went_offline', lastSeenAt: null, missed: 3 })()).toEqual([]);
  });

  it('ignores heartbeats of a deleted node', () => {
    expect(when([created, { type: NodeDeleted.type, data: {} }], { type: 'came_online', at: 't' })()).toEqual([]);
  });

  it('records a reported spec only when it changed', () => {
    expect(types(when([created], { type: 'report_spec', spec })())).toEqual([NodeSpecReported.type]);
    expect(when([created, { type: NodeSpecReported.type, data: { spec } }], { type: 'report_spec', spec })()).toEqual([]);
  });

  it('keeps when it was created', () => {
    expect(given(created).createdAt).toBe('2026-11-30T12:00:00.000Z');
  });
});
