import type { LatestSample } from '@encedeus/contracts';

/** What the exposition knows of a server besides its samples. */
export interface ServerLabels {
  name: string;
  node_id: string;
  template: string;
}

/** `Content-Type` of OpenMetrics 1.0 text. */
export const OPENMETRICS_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

const FAMILIES = [
  { field: 'cpu_percent', help: 'CPU use in percent of one core' },
  { field: 'memory_bytes', help: 'Memory in use, bytes' },
  { field: 'memory_limit_bytes', help: 'Memory limit (servers) or total memory (nodes), bytes' },
  { field: 'disk_bytes', help: 'Disk in use, bytes' },
  { field: 'net_rx', help: 'Bytes received per second (nodes)' },
  { field: 'net_tx', help: 'Bytes sent per second (nodes)' },
] as const;

/** A label value in OpenMetrics: backslash, double quote and newline escaped. */
function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/**
 * The fleet in OpenMetrics text (issue 12): one gauge family per field for nodes
 * (`encedeus_node_<field>{node_id}`) and servers (`encedeus_server_<field>{node_id, server_id,
 * server_name, template}`), from each series' newest sample (no timestamp: Prometheus stamps the scrape). A server's
 * sample counts only when the node it is placed on sent it; servers the fleet does not know are left out.
 */
export function renderFleet(samples: LatestSample[], servers: Map<string, ServerLabels>): string {
  const lines: string[] = [];
  for (const kind of ['node', 'server'] as const) {
    for (const family of FAMILIES) {
      const name = `encedeus_${kind}_${family.field}`;
      const series: string[] = [];
      for (const s of samples) {
        const [k, id] = s.target.split(':');
        const value = s[family.field];
        if (k !== kind || value === null || value === undefined) continue;
        let labels: string;
        if (kind === 'node') {
          if (id !== s.node_id) continue;
          labels = `node_id="${label(id)}"`;
        } else {
          const server = servers.get(id);
          if (!server || server.node_id !== s.node_id) continue;
          labels = `node_id="${label(s.node_id)}",server_id="${label(id)}",server_name="${label(server.name)}",template="${label(server.template)}"`;
        }
        series.push(`${name}{${labels}} ${value}`);
      }
      if (series.length === 0) continue;
      lines.push(`# TYPE ${name} gauge`, `# HELP ${name} ${family.help}`, ...series);
    }
  }
  lines.push('# EOF');
  return lines.join('\n') + '\n';
}
