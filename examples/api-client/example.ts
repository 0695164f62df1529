/**
 * A service account's typed client, with nothing but `fetch` and the types openapi-typescript
 * generates from the gateway's document:
 *
 *   curl -fsS http://localhost:8080/api/v1/openapi.json -o openapi.json
 *   npx openapi-typescript openapi.json -o encedeus-api.d.ts
 *
 * CI type-checks this file against freshly generated types (`npm run openapi:client-check`), so a
 * change to the API that breaks it fails there. `encedeus-api` is mapped to the generated file.
 *
 * Run: ENCEDEUS_URL=http://localhost:8080 ENCEDEUS_API_KEY=enc_... npx ts-node example.ts
 */
import type { components, paths } from 'encedeus-api';

type Server = components['schemas']['Server'];
type ApiError = components['schemas']['Error'];
type CreateServer = paths['/api/v1/servers']['post']['requestBody']['content']['application/json'];
type Created = paths['/api/v1/servers']['post']['responses']['201']['content']['application/json'];
type ServerPage = paths['/api/v1/servers']['get']['responses']['200']['content']['application/json'];
type ServerListQuery = NonNullable<paths['/api/v1/servers']['get']['parameters']['query']>;
type Power = paths['/api/v1/servers/{id}/power']['post']['requestBody']['content']['application/json'];
type PowerReply = paths['/api/v1/servers/{id}/power']['post']['responses']['200']['content']['application/json'];
type NodePage = paths['/api/v1/nodes']['get']['responses']['200']['content']['application/json'];
type TemplatePage = paths['/api/v1/templates']['get']['responses']['200']['content']['application/json'];

export class EncedeusError extends Error {
  constructor(readonly status: number, readonly body: ApiError) {
    super(`${status} ${body.code}: ${body.error}`);
  }
}

export class EncedeusClient {
  constructor(private readonly baseUrl: string, private readonly apiKey: string) {}

  private async call<T>(method: string, path: string, body?: unknown, query?: Record<string, string | number | undefined>): Promise<T> {
    const url = new URL(path, this.baseUrl);
    for (const [key, value] of Object.entries(query ?? {})) if (value !== undefined) url.searchParams.set(key, String(value));
    const res = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${this.apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new EncedeusError(res.status, (await res.json()) as ApiError);
    return (res.status === 204 ? undefined : await res.json()) as T;
  }

  listNodes(): Promise<NodePage> {
    return this.call<NodePage>('GET', '/api/v1/nodes');
  }

  listTemplates(): Promise<TemplatePage> {
    return this.call<TemplatePage>('GET', '/api/v1/templates');
  }

  createServer(body: CreateServer): Promise<Created> {
    return this.call<Created>('POST', '/api/v1/servers', body);
  }

  listServers(query: ServerListQuery = {}): Promise<ServerPage> {
    return this.call<ServerPage>('GET', '/api/v1/servers', undefined, query as Record<string, string | number | undefined>);
  }

  power(id: string, action: Power['action']): Promise<PowerReply> {
    return this.call<PowerReply>('POST', `/api/v1/servers/${encodeURIComponent(id)}/power`, { action } satisfies Power);
  }
}

async function main(): Promise<void> {
  const client = new EncedeusClient(process.env.ENCEDEUS_URL ?? 'http://localhost:8080', process.env.ENCEDEUS_API_KEY ?? '');
  const [nodes, templates] = await Promise.all([client.listNodes(), client.listTemplates()]);
  const node = nodes.items.find((n) => n.state === 'online' && !n.draining);
  const template = templates.items[0];
  if (!node || !template) throw new Error('Needs an online node and a template');

  const created: Server = await client.createServer({
    name: 'example-server',
    template_id: template.id,
    node_id: node.id,
    limits: { memory_mb: 512, cpu_percent: 100, disk_mb: 1024 },
  });
  console.log(`created ${created.name} (${created.id}) on ${created.node_id}: ${created.state}`);

  const page = await client.listServers({ limit: 20 });
  for (const server of page.items) console.log(`${server.id}  ${server.state.padEnd(14)} ${server.name}`);
  if (page.nextCursor !== null) console.log('more: pass cursor', page.nextCursor);

  try {
    await client.power(created.id, 'start');
  } catch (error) {
    if (error instanceof EncedeusError && error.body.code === 'CONFLICT') console.log('not startable yet:', error.body.error);
    else throw error;
  }
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
