import { AgentBecameActive, AgentSaidBye, AgentWentInactive, event, type CloudEvent, type NewEvent } from '@encedeus/contracts';
import type { Decider } from '@encedeus/messaging';

/** An external agent's activity as its events say (aggregate `external_agent`). */
export interface ExternalAgentState {
  state: 'unknown' | 'active' | 'inactive';
  /** ISO time of the last transition. */
  since: string | null;
}

/** What the activity monitor tells the aggregate; time and facts arrive in the command. */
export type ExternalAgentCommand =
  | { type: 'ping'; agentId: string; at: string; timeoutS: number | null }
  | { type: 'timeout'; agentId: string; at: string; lastSeen: string }
  | { type: 'bye'; agentId: string; at: string };

export const initialExternalAgent = (): ExternalAgentState => ({ state: 'unknown', since: null });

export function evolveExternalAgent(state: ExternalAgentState, e: Pick<CloudEvent, 'type' | 'data'>): ExternalAgentState {
  const at = (e.data as { at?: string }).at ?? null;
  switch (e.type) {
    case AgentBecameActive.type:
      return { state: 'active', since: at };
    case AgentWentInactive.type:
    case AgentSaidBye.type:
      return { state: 'inactive', since: at };
    default:
      return state;
  }
}

/**
 * A ping makes an agent that is not active active; a timeout makes an active one inactive; a bye
 * says bye (and the agent is inactive at once) unless it already is inactive. Anything else is [].
 */
export function decideExternalAgent(cmd: ExternalAgentCommand, state: ExternalAgentState): NewEvent[] {
  switch (cmd.type) {
    case 'ping':
      return state.state === 'active' ? [] : [event(AgentBecameActive, { agent_id: cmd.agentId, at: cmd.at, timeout_s: cmd.timeoutS })];
    case 'timeout':
      return state.state === 'active' ? [event(AgentWentInactive, { agent_id: cmd.agentId, at: cmd.at, last_seen: cmd.lastSeen })] : [];
    case 'bye':
      return state.state === 'inactive' ? [] : [event(AgentSaidBye, { agent_id: cmd.agentId, at: cmd.at })];
  }
}

export const externalAgentDecider: Decider<ExternalAgentState, ExternalAgentCommand> = {
  name: 'external_agent.v1',
  initialState: initialExternalAgent,
  evolve: evolveExternalAgent,
  decide: decideExternalAgent,
};
