import type { LatestSample } from '@encedeus/contracts';
import { renderFleet, type ServerLabels } from './fleet-exposition';

const sample = (target: string, nodeId: string, memory: number): LatestSample => ({
  target,
  node_id: nodeId,
  t: 0,
  cpu_percent: 1,
  memory_bytes: memory,
  memory_limit_bytes: null,
  disk_bytes: null,
  net_rx: null,
  net_tx: null,
});

describe('renderFleet', () => {
  it('labels servers with their node, name and template, escapes label values, and ends with # EOF', () => {
    const servers = new Map<string, ServerLabels>([['s1', { name: 'a "quoted"\\name\nline', node_id: 'n1', template: 'tpl' }]]);

    const text = renderFleet([sample('node:n1', 'n1', 10), sample('server:s1', 'n1', 20)], servers);

    expect(text).toContain('# TYPE encedeus_node_memory_bytes gauge\n');
    expect(text).toContain('encedeus_node_memory_bytes{node_id="n1"} 10\n');
    expect(text).toContain('encedeus_server_memory_bytes{node_id="n1",server_id="s1",server_name="a \\"quoted\\"\\\\name\\nline",template="tpl"} 20\n');
    expect(text).not.toContain('encedeus_server_net_rx');
    expect(text.endsWith('# EOF\n')).toBe(true);
  });

  it('leaves out what a node says about a server placed elsewhere, and servers the fleet does not know', () => {
    const servers = new Map<string, ServerLabels>([['s1', { name: 'x', node_id: 'n1', template: 't' }]]);

    const text = renderFleet([sample('server:s1', 'n2', 999), sample('server:s9', 'n1', 5), sample('node:n1', 'n2', 7)], servers);

    expect(text).toBe('# EOF\n');
  });
});
