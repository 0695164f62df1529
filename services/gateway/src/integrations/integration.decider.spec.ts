import { ConflictError, type CloudEvent } from '@encedeus/contracts';
import { decideRevoke, evolveIntegration, revocationList, type IntegrationState } from './integration.decider';

const id = '6f1c2d7e-0c4b-4d7a-8a8e-2b1f5c9d0e31';
const recorded = (type: string, data: object, version: number): CloudEvent =>
  ({ specversion: '1.0', id: `e${version}`, source: 'encedeus/gateway', type, subject: `integration/${id}`, time: '2026-11-30T10:00:00.000Z', datacontenttype: 'application/json', data, actor: 'user:a', aggregateversion: version }) as CloudEvent;
const issued = recorded('integration.credentials_issued', { name: 'wide', filter: 'evt.>', expiresAt: '2026-12-30T10:00:00.000Z', userPub: 'UABC', consumerNames: ['integ_wide_x_1'] }, 1);
const revoked = recorded('integration.credentials_revoked', { name: 'wide', userPub: 'UABC', revokedAt: '2026-11-30T11:00:00.000Z' }, 2);
const fold = (events: CloudEvent[]) => events.reduce<IntegrationState | undefined>((s, e) => evolveIntegration(s, id, e), undefined)!;

describe('decideRevoke', () => {
  it('records the revocation of issued credentials', () => {
    const state = fold([issued]);

    const events = decideRevoke(state, { revokedAt: '2026-11-30T12:00:00.000Z' });

    expect(events).toEqual([{ type: 'integration.credentials_revoked', data: { name: 'wide', userPub: 'UABC', revokedAt: '2026-11-30T12:00:00.000Z' } }]);
  });

  it('records nothing for credentials already revoked', () => {
    const state = fold([issued, revoked]);

    const events = decideRevoke(state, { revokedAt: '2026-11-30T12:00:00.000Z' });

    expect(events).toEqual([]);
  });

  it('refuses credentials issued before revocation existed', () => {
    const state = fold([recorded('integration.credentials_issued', { name: 'old', filter: 'evt.>', expiresAt: '2026-12-30T10:00:00.000Z' }, 1)]);

    const act = () => decideRevoke(state, { revokedAt: '2026-11-30T12:00:00.000Z' });

    expect(act).toThrow(ConflictError);
  });
});

describe('revocationList', () => {
  it('lists revoked credentials until they expire, in epoch seconds', () => {
    const state = fold([issued, revoked]);

    const before = revocationList([state], new Date('2026-12-01T00:00:00.000Z'));
    const after = revocationList([state], new Date('2026-12-31T00:00:00.000Z'));

    expect(before).toEqual({ UABC: Date.parse('2026-11-30T11:00:00.000Z') / 1000 });
    expect(after).toEqual({});
  });
});
