import { DomainError, ServiceUnavailableError, type Limits } from '@encedeus/contracts';

/** What a node offers and what its servers already take, as placement and capacity see it. */
export interface NodeCapacity {
  id: string;
  name: string;
  memory_mb: number;
  cpu_percent: number;
  /** 0: the node did not declare its disk, which is then not checked. */
  storage_mb: number;
  draining: boolean;
  online: boolean;
  /** Drivers the agent reported; null before its first boot report (any driver is assumed). */
  drivers: string[] | null;
  /** What the node's servers (other than the one being changed) take. */
  allocated: { memory_mb: number; cpu_percent: number; disk_mb: number };
}

/**
 * Refuses limits that do not fit in what the node has left: memory, CPU (its cpu_percent) and disk,
 * each with the numbers (409 INSUFFICIENT_CAPACITY). Pure: the caller loads the node and its allocation.
 */
export function assertCapacity(node: NodeCapacity, { memory_mb: memoryMb, cpu_percent: cpuPercent, disk_mb: diskMb }: Limits): void {
  const used = node.allocated;
  const freeMemory = node.memory_mb - used.memory_mb;
  if (memoryMb > freeMemory) {
    throw new DomainError('INSUFFICIENT_CAPACITY', `Node ${node.name} has ${freeMemory} MB of memory free of ${node.memory_mb} MB; the server needs ${memoryMb} MB`, {
      node_id: node.id,
      requested_memory_mb: memoryMb,
      free_memory_mb: freeMemory,
      total_memory_mb: node.memory_mb,
      allocated_memory_mb: used.memory_mb,
    });
  }
  const freeCpu = node.cpu_percent - used.cpu_percent;
  if (cpuPercent > freeCpu) {
    throw new DomainError('INSUFFICIENT_CAPACITY', `Node ${node.name} has ${freeCpu} % CPU free of ${node.cpu_percent} %; the server needs ${cpuPercent} %`, {
      node_id: node.id,
      requested_cpu_percent: cpuPercent,
      free_cpu_percent: freeCpu,
      total_cpu_percent: node.cpu_percent,
      allocated_cpu_percent: used.cpu_percent,
    });
  }
  const freeDisk = node.storage_mb - used.disk_mb;
  if (node.storage_mb > 0 && diskMb > freeDisk) {
    throw new DomainError('INSUFFICIENT_CAPACITY', `Node ${node.name} has ${freeDisk} MB of disk free of ${node.storage_mb} MB; the server needs ${diskMb} MB`, {
      node_id: node.id,
      requested_disk_mb: diskMb,
      free_disk_mb: freeDisk,
      total_disk_mb: node.storage_mb,
    });
  }
}

/**
 * Automatic placement: the online, undrained node able to run `driver` with most free memory among
 * those where memory, CPU and disk all fit. 503 when no node can run the driver at all, 409
 * INSUFFICIENT_CAPACITY (naming the best candidate) when none has room.
 */
export function placeServer(nodes: NodeCapacity[], limits: Limits, driver: string): string {
  const candidates = nodes
    .filter((n) => n.online && !n.draining && (n.drivers === null || n.drivers.includes(driver)))
    .map((n) => ({
      node: n,
      freeMemory: n.memory_mb - n.allocated.memory_mb,
      freeCpu: n.cpu_percent - n.allocated.cpu_percent,
      freeDisk: n.storage_mb - n.allocated.disk_mb,
    }))
    .sort((a, b) => b.freeMemory - a.freeMemory);
  if (candidates.length === 0) throw new ServiceUnavailableError(`No online node can run ${driver} servers`, { driver });
  const fit = candidates.find((c) => c.freeMemory >= limits.memory_mb && c.freeCpu >= limits.cpu_percent && (c.node.storage_mb === 0 || c.freeDisk >= limits.disk_mb));
  if (!fit) {
    const best = candidates[0];
    throw new DomainError(
      'INSUFFICIENT_CAPACITY',
      `No node has ${limits.memory_mb} MB of memory and ${limits.cpu_percent} % CPU free (most free memory: ${best.freeMemory} MB on node ${best.node.id})`,
      { requested_memory_mb: limits.memory_mb, requested_cpu_percent: limits.cpu_percent, best_free_memory_mb: best.freeMemory, node_id: best.node.id },
    );
  }
  return fit.node.id;
}

/** A node for a job: any online, undrained node offering the runtime (none listed: all), chosen by `pick` (random in production). */
export function placeJob(nodes: (Pick<NodeCapacity, 'id' | 'online' | 'draining'> & { runtimes: string[] | null })[], runtime: string, pick: (n: number) => number): string {
  const candidates = nodes.filter((n) => n.online && !n.draining && (!n.runtimes?.length || n.runtimes.includes(runtime)));
  if (candidates.length === 0) throw new ServiceUnavailableError(`No online node can run ${runtime} jobs`, { runtime });
  return candidates[pick(candidates.length)].id;
}
