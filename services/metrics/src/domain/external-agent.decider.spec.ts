import { AgentBecameActive, AgentSaidBye, AgentWentInactive, type CloudEvent } from '@encedeus/contracts';
import { decideExternalAgent, evolveExternalAgent, initialExternalAgent } from './external-agent.decider';

const at = '2026-12-01T10:00:00.000Z';
const became = { type: AgentBecameActive.type, data: { agent_id: 'a1', at, timeout_s: null } } as unknown as CloudEvent;
const wentInactive = { type: AgentWentInactive.type, data: { agent_id: 'a1', at, last_seen: at } } as unknown as CloudEvent;
const ping = { type: 'ping', agentId: 'a1', at, timeoutS: 5 } as const;
const timeout = { type: 'timeout', agentId: 'a1', at, lastSeen: at } as const;
const bye = { type: 'bye', agentId: 'a1', at } as const;
const stateAfter = (...events: CloudEvent[]) => events.reduce(evolveExternalAgent, initialExternalAgent());

describe('decideExternalAgent', () => {
  it('makes a new agent active on its first ping', () => {
    const state = stateAfter();

    const events = decideExternalAgent(ping, state);

    expect(events).toEqual([{ type: 'agent.became_active', data: { agent_id: 'a1', at, timeout_s: 5 } }]);
  });

  it('ignores pings of an active agent', () => {
    const state = stateAfter(became);

    expect(decideExternalAgent(ping, state)).toEqual([]);
  });

  it('makes an active agent inactive on a timeout, and only an active one', () => {
    expect(decideExternalAgent(timeout, stateAfter(became)).map((e) => e.type)).toEqual(['agent.went_inactive']);
    expect(decideExternalAgent(timeout, stateAfter(became, wentInactive))).toEqual([]);
    expect(decideExternalAgent(timeout, stateAfter())).toEqual([]);
  });

  it('says bye for an active agent and leaves it inactive at once', () => {
    const events = decideExternalAgent(bye, stateAfter(became));

    expect(events.map((e) => e.type)).toEqual([AgentSaidBye.type]);
    expect(stateAfter(became, events[0] as unknown as CloudEvent).state).toBe('inactive');
    expect(decideExternalAgent(bye, stateAfter(became, wentInactive))).toEqual([]);
  });

  it('makes an agent that said bye active again on its next ping', () => {
    const state = stateAfter(became, { type: AgentSaidBye.type, data: { agent_id: 'a1', at } } as unknown as CloudEvent);

    expect(decideExternalAgent(ping, state).map((e) => e.type)).toEqual(['agent.became_active']);
  });
});
