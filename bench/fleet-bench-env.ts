import { startFleet, type FleetHarness } from '../services/nodes/test/fleet-harness';

/** Nodes service + NATS + Postgres of the e2e harness, reused by the fleet benchmarks. */
export async function benchFleet(): Promise<FleetHarness> {
  return startFleet();
}
