/** Agent version reported in spec and heartbeats. */
export const AGENT_VERSION = '0.1.0';
