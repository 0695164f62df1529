import { renderStartup, type AgentServerSpec } from '@encedeus/contracts';
import type { ServerState } from './server.decider';

/** What the agent needs to run a server, rendered from the server aggregate. */
export function agentServerSpec(id: string, s: ServerState): AgentServerSpec {
  const t = s.template!;
  const port = s.ports[0]?.host;
  const values: Record<string, string> = {
    ...s.variables,
    SERVER_MEMORY: String(s.limits.memory_mb),
    SERVER_PORT: port ? String(port) : '',
    SERVER_ID: id,
  };
  return {
    id,
    driver: t.driver,
    image: t.image,
    // A server's own startup line is rendered exactly like its template's: values stay environment variables.
    startup: renderStartup(s.startup ?? t.startup, values),
    env: { ...values, ...(port ? { SERVER_IP: '0.0.0.0' } : {}) },
    limits: s.limits,
    ports: s.ports,
    stop: t.stop,
    ready_pattern: t.ready_pattern,
    install_script: t.install_script,
    desired: s.desired,
  };
}

/** Every event carries who caused it; an event of the node's own agent is `agent:<nodeId>`. */
export const agentActor = (nodeId: string) => `agent:${nodeId}`;

/** The actor of what the nodes service does on its own (liveness, timers, seeding). */
export const SERVICE_ACTOR = 'service:nodes';
