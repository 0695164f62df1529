import Ajv, { type ValidateFunction } from 'ajv';
import type { Response } from 'supertest';
import { startStack, type Stack } from './stack-harness';

const NODE_ECHO_TEMPLATE = '00000000-0000-4000-8000-000000000001';

type Schema = Record<string, unknown>;
interface Document {
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema?: Schema }> }> }>>;
  components: { schemas: Record<string, Schema> };
}

/** OpenAPI 3.0's boolean exclusive bounds → draft-07's numeric ones, for Ajv. */
function forAjv(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(forAjv);
  if (typeof value !== 'object' || value === null) return value;
  const out: Schema = {};
  for (const [key, child] of Object.entries(value)) out[key] = forAjv(child);
  for (const [flag, bound] of [['exclusiveMinimum', 'minimum'], ['exclusiveMaximum', 'maximum']] as const) {
    if (out[flag] === true) {
      out[flag] = out[bound];
      delete out[bound];
    } else if (out[flag] === false) delete out[flag];
  }
  return out;
}

/** The schema a `$ref` names, followed to the end. */
function resolved(schema: Schema, doc: Document): Schema {
  const ref = schema.$ref;
  return typeof ref === 'string' ? resolved(doc.components.schemas[ref.replace('#/components/schemas/', '')] ?? {}, doc) : schema;
}

/**
 * Fields at the top of an object answer that its documented schema does not name. A schema with
 * `properties` and `additionalProperties` is open on purpose (health's dependencies) and names what
 * it must; a bare `{ type: object }` names nothing, so every field of the answer is undocumented.
 */
function undocumentedFields(body: unknown, schema: Schema, doc: Document): string[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return [];
  const { properties, additionalProperties } = resolved(schema, doc);
  if (properties !== undefined && additionalProperties !== undefined) return [];
  return Object.keys(body).filter((field) => !(field in ((properties ?? {}) as Schema)));
}

/**
 * Issue 14: the answers the OpenAPI document promises are the answers the gateway gives. Real
 * requests against the whole stack (auth, users, nodes, files, metrics, a real agent), each body
 * checked against the document's schema for its path, method and status.
 */
describe('OpenAPI answers match the real ones', () => {
  let stack: Stack;
  let admin: string;
  let doc: Document;
  const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true });
  const validators = new Map<string, ValidateFunction>();
  const auth = () => `Bearer ${admin}`;

  /**
   * Asserts `res` has `status` and a body valid against the document's schema for it, whose every
   * top-level field the schema names (a loose object would accept anything).
   */
  function expectDocumented(res: Response, path: string, method: string, status: number): void {
    expect([`${method} ${path}`, res.status, res.status === status ? '' : res.text]).toEqual([`${method} ${path}`, status, '']);
    const key = `${method} ${path} ${status}`;
    const schema = doc.paths[path]?.[method]?.responses[String(status)]?.content?.['application/json']?.schema;
    expect([key, schema === undefined ? 'no schema in the document' : 'ok']).toEqual([key, 'ok']);
    let validate = validators.get(key);
    if (!validate) {
      validate = ajv.compile(forAjv({ allOf: [schema], components: doc.components }) as Schema);
      validators.set(key, validate);
    }
    const ok = validate(res.body);
    expect([key, ok ? [] : validate.errors]).toEqual([key, []]);
    expect([key, 'undocumented fields', undocumentedFields(res.body, schema as Schema, doc)]).toEqual([key, 'undocumented fields', []]);
  }

  beforeAll(async () => {
    stack = await startStack();
    admin = await stack.adminToken();
    doc = (await stack.http().get('/api/v1/openapi.json')).body as Document;
  }, 120_000);
  afterAll(() => stack?.stop());

  it('identity: me, users, roles, permissions, service accounts, API keys, SSH keys, errors', async () => {
    const http = stack.http;
    expectDocumented(await http().get('/api/v1/health'), '/api/v1/health', 'get', 200);
    expectDocumented(await http().get('/api/v1/auth/me').set('Authorization', auth()), '/api/v1/auth/me', 'get', 200);
    expectDocumented(await http().get('/api/v1/auth/jwks'), '/api/v1/auth/jwks', 'get', 200);
    expectDocumented(await http().get('/api/v1/users/me').set('Authorization', auth()), '/api/v1/users/me', 'get', 200);
    expectDocumented(await http().get('/api/v1/users').set('Authorization', auth()), '/api/v1/users', 'get', 200);
    expectDocumented(await http().get('/api/v1/roles').set('Authorization', auth()), '/api/v1/roles', 'get', 200);
    expectDocumented(await http().get('/api/v1/permissions').set('Authorization', auth()), '/api/v1/permissions', 'get', 200);
    const account = await http().post('/api/v1/service-accounts').set('Authorization', auth()).send({ name: 'openapi-bot' });
    expectDocumented(account, '/api/v1/service-accounts', 'post', 201);
    expectDocumented(await http().get('/api/v1/service-accounts').set('Authorization', auth()), '/api/v1/service-accounts', 'get', 200);
    const key = await http().post('/api/v1/api-keys').set('Authorization', auth()).send({ name: 'openapi key', permissions: ['servers.read'] });
    expectDocumented(key, '/api/v1/api-keys', 'post', 201);
    expectDocumented(await http().get('/api/v1/api-keys').set('Authorization', auth()), '/api/v1/api-keys', 'get', 200);
    expectDocumented(await http().get('/api/v1/users/me/ssh-keys').set('Authorization', auth()), '/api/v1/users/me/ssh-keys', 'get', 200);

    expectDocumented(await http().get('/api/v1/users'), '/api/v1/users', 'get', 401);
    expectDocumented(await http().get('/api/v1/users').set('Authorization', `Bearer ${key.body.key}`), '/api/v1/users', 'get', 403);
    expectDocumented(await http().get('/api/v1/servers/not-a-uuid').set('Authorization', auth()), '/api/v1/servers/{id}', 'get', 422);
    expectDocumented(await http().get('/api/v1/servers/00000000-0000-4000-8000-00000000ffff').set('Authorization', auth()), '/api/v1/servers/{id}', 'get', 404);
    expectDocumented(await http().post('/api/v1/auth/login').send({ email: 'nobody@example.test', password: 'wrong password here' }), '/api/v1/auth/login', 'post', 401);
  });

  it('fleet, files, metrics and events: a node with a real agent, a server, its backups and sub-users', async () => {
    const http = stack.http;
    const node = await http().post('/api/v1/nodes').set('Authorization', auth()).send({ name: 'openapi-node', memory_mb: 4096, cpu_percent: 400, storage_size: '10G', tags: [] });
    expectDocumented(node, '/api/v1/nodes', 'post', 201);
    stack.startAgent(node.body.enrollment.token);
    await stack.waitFor('node online', async () => (await http().get(`/api/v1/nodes/${node.body.id}`).set('Authorization', auth())).body.state === 'online', 60_000);
    expectDocumented(await http().get(`/api/v1/nodes/${node.body.id}`).set('Authorization', auth()), '/api/v1/nodes/{id}', 'get', 200);
    expectDocumented(await http().get('/api/v1/nodes').set('Authorization', auth()), '/api/v1/nodes', 'get', 200);
    expectDocumented(await http().get('/api/v1/templates').set('Authorization', auth()), '/api/v1/templates', 'get', 200);
    expectDocumented(await http().get(`/api/v1/templates/${NODE_ECHO_TEMPLATE}`).set('Authorization', auth()), '/api/v1/templates/{id}', 'get', 200);

    const server = await http().post('/api/v1/servers').set('Authorization', auth()).send({ name: 'openapi-echo', template_id: NODE_ECHO_TEMPLATE, node_id: node.body.id, limits: { memory_mb: 256, cpu_percent: 50, disk_mb: 200 } });
    expectDocumented(server, '/api/v1/servers', 'post', 201);
    const id = server.body.id as string;
    await stack.waitFor('installed', async () => (await http().get(`/api/v1/servers/${id}`).set('Authorization', auth())).body.state === 'offline', 60_000);
    expectDocumented(await http().get(`/api/v1/servers/${id}`).set('Authorization', auth()), '/api/v1/servers/{id}', 'get', 200);
    expectDocumented(await http().get('/api/v1/servers').set('Authorization', auth()), '/api/v1/servers', 'get', 200);
    expectDocumented(await http().post(`/api/v1/servers/${id}/power`).set('Authorization', auth()).send({ action: 'start' }), '/api/v1/servers/{id}/power', 'post', 200);
    expectDocumented(await http().patch(`/api/v1/servers/${id}`).set('Authorization', auth()).set('If-Match', '"0"').send({ name: 'stale' }), '/api/v1/servers/{id}', 'patch', 412);
    expectDocumented(await http().get(`/api/v1/servers/${id}/files/list?path=/`).set('Authorization', auth()), '/api/v1/servers/{id}/files/list', 'get', 200);
    const files = `/api/v1/servers/${id}/files`;
    expectDocumented(await http().post(`${files}/mkdir`).set('Authorization', auth()).send({ path: '/openapi-dir' }), '/api/v1/servers/{id}/files/mkdir', 'post', 201);
    expectDocumented(await http().put(`${files}/write?path=/openapi-dir/a.txt`).set('Authorization', auth()).set('Content-Type', 'application/octet-stream').send(Buffer.from('hello')), '/api/v1/servers/{id}/files/write', 'put', 200);
    expectDocumented(await http().post(`${files}/copy`).set('Authorization', auth()).send({ path: '/openapi-dir/a.txt' }), '/api/v1/servers/{id}/files/copy', 'post', 200);
    expectDocumented(await http().post(`${files}/chmod`).set('Authorization', auth()).send({ path: '/openapi-dir/a.txt', mode: '640' }), '/api/v1/servers/{id}/files/chmod', 'post', 200);
    expectDocumented(await http().post(`${files}/rename`).set('Authorization', auth()).send({ from: '/openapi-dir/a.txt', to: '/openapi-dir/b.txt' }), '/api/v1/servers/{id}/files/rename', 'post', 200);
    const upload = await http().post(`${files}/upload`).query({ path: '/openapi-dir' }).set('Authorization', auth()).attach('file', Buffer.from('uploaded'), 'up.txt');
    expectDocumented(upload, '/api/v1/servers/{id}/files/upload', 'post', 200);
    const vfsUpload = await http().post('/api/v1/fs/upload').set('Authorization', auth()).field('path', '/openapi/in.txt').attach('file', Buffer.from('from my files'), 'in.txt');
    expectDocumented(vfsUpload, '/api/v1/fs/upload', 'post', 200);
    expectDocumented(await http().post(`${files}/import`).set('Authorization', auth()).send({ vfs_path: '/openapi/in.txt', to: '/openapi-dir' }), '/api/v1/servers/{id}/files/import', 'post', 200);
    expectDocumented(await http().post(`${files}/export`).set('Authorization', auth()).send({ path: '/openapi-dir/b.txt', vfs_path: '/openapi/out.txt' }), '/api/v1/servers/{id}/files/export', 'post', 200);
    expectDocumented(await http().post(`${files}/compress`).set('Authorization', auth()).send({ paths: ['/openapi-dir'], name: 'o.tar.gz' }), '/api/v1/servers/{id}/files/compress', 'post', 200);
    expectDocumented(await http().post(`${files}/decompress`).set('Authorization', auth()).send({ path: '/o.tar.gz' }), '/api/v1/servers/{id}/files/decompress', 'post', 200);
    expectDocumented(await http().post(`${files}/delete`).set('Authorization', auth()).send({ paths: ['/openapi-dir', '/o.tar.gz'] }), '/api/v1/servers/{id}/files/delete', 'post', 200);
    expectDocumented(await http().get(`/api/v1/servers/${id}/users`).set('Authorization', auth()), '/api/v1/servers/{id}/users', 'get', 200);
    expectDocumented(await http().get(`/api/v1/servers/${id}/backups`).set('Authorization', auth()), '/api/v1/servers/{id}/backups', 'get', 200);

    expectDocumented(await http().get(`/api/v1/nodes/${node.body.id}/metrics/history`).set('Authorization', auth()), '/api/v1/nodes/{id}/metrics/history', 'get', 200);
    expectDocumented(await http().get(`/api/v1/metrics?target=node:${node.body.id}`).set('Authorization', auth()), '/api/v1/metrics', 'get', 200);
    expectDocumented(await http().get('/api/v1/alerts/rules').set('Authorization', auth()), '/api/v1/alerts/rules', 'get', 200);
    expectDocumented(await http().get('/api/v1/agents').set('Authorization', auth()), '/api/v1/agents', 'get', 200);
    expectDocumented(await http().get('/api/v1/jobs').set('Authorization', auth()), '/api/v1/jobs', 'get', 200);
    expectDocumented(await http().get('/api/v1/events?limit=20').set('Authorization', auth()), '/api/v1/events', 'get', 200);
    expectDocumented(await http().get('/api/v1/audit').set('Authorization', auth()), '/api/v1/audit', 'get', 200);
    expectDocumented(await http().get('/api/v1/fs/quota').set('Authorization', auth()), '/api/v1/fs/quota', 'get', 200);
    expectDocumented(await http().get('/api/v1/fs/ls?path=/').set('Authorization', auth()), '/api/v1/fs/ls', 'get', 200);
    expectDocumented(await http().get('/api/v1/files').set('Authorization', auth()), '/api/v1/files', 'get', 200);
    expectDocumented(await http().get('/api/v1/integrations/nats-credentials').set('Authorization', auth()), '/api/v1/integrations/nats-credentials', 'get', 200);

    await stack.waitFor('running', async () => (await http().get(`/api/v1/servers/${id}`).set('Authorization', auth())).body.state === 'running', 30_000);
    expectDocumented(await http().post(`/api/v1/servers/${id}/command`).set('Authorization', auth()).send({ command: 'hello' }), '/api/v1/servers/{id}/command', 'post', 202);
    const latest = await stack.waitFor('a node sample', async () => {
      const res = await http().get(`/api/v1/nodes/${node.body.id}/metrics`).set('Authorization', auth());
      return res.status === 200 && res.body.servers?.length > 0 ? res : undefined;
    }, 30_000);
    expectDocumented(latest, '/api/v1/nodes/{id}/metrics', 'get', 200);
  }, 180_000);
});
