// What every service that talks to node agents shares (nodes today, files next): the request
// client for `agent.<nodeId>.cmd.<verb>`. Who may see or control a server is one rule in
// @encedeus/contracts (canSeeServer / canControlServer), since the gateway and console use it too.
export { AgentClient } from './agent-client';
