import SwaggerParser from '@apidevtools/swagger-parser';
import request from 'supertest';
import { startTestEnv, type TestEnv } from '@encedeus/testing';
import { createGatewayApp, type GatewayApp } from '../src/gateway.app';
import { gatewayFeatures } from '../src/gateway.features';
import { toOpenApi30Schema } from '../src/openapi/openapi-30';

type Schema = Record<string, unknown>;
interface Operation {
  operationId?: string;
  security?: Record<string, string[]>[];
  responses: Record<string, { content?: Record<string, { schema?: Schema }> }>;
}
interface Document {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];
/** Routes anyone may call: login and its steps, token refresh/logout, JWKS, health, agent install/enroll, the signed repository webhook. */
const PUBLIC = new Set([
  'AuthController_login',
  'AuthController_loginInit',
  'AuthController_loginVerify',
  'AuthController_registerInit',
  'AuthController_registerVerify',
  'AuthController_refresh',
  'AuthController_refreshPost',
  'AuthController_logout',
  'AuthController_jwks',
  'HealthController_health',
  'AgentInstallController_install',
  'AgentInstallController_tarball',
  'AgentInstallController_enroll',
  'RepositoryWebhookController_sync',
]);

function operations(doc: Document): { key: string; op: Operation }[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m]).map((m) => ({ key: `${m.toUpperCase()} ${path} (${item[m].operationId})`, op: item[m] })),
  );
}

/** Issue 14: the document a service account downloads validates and describes every answer. */
describe('gateway OpenAPI document', () => {
  let env: TestEnv;
  let gateway: GatewayApp;
  let doc: Document;

  beforeAll(async () => {
    env = await startTestEnv();
    const options = { nats: { servers: env.nats.url, creds: await env.nats.creds('gateway') }, databaseUrl: env.db.url, signer: env.nats.signer, logLevel: 'silent' };
    gateway = await createGatewayApp({ ...options, features: gatewayFeatures(options) }, 0, '127.0.0.1');
    const res = await request(gateway.url).get('/api/v1/openapi.json');
    expect(res.status).toBe(200);
    doc = res.body as Document;
  }, 120_000);
  afterAll(async () => {
    await gateway?.close();
    await env?.stop();
  });

  it('is served without credentials and validates with swagger-parser (OpenAPI 3.0)', async () => {
    expect(doc.openapi).toMatch(/^3\.0\./);
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeDefined();
  });

  it('uses no JSON Schema 2020-12 keywords in a 3.0 document (type arrays, const, $defs)', () => {
    const found: string[] = [];
    const walk = (value: unknown, at: string) => {
      if (Array.isArray(value)) return value.forEach((v, i) => walk(v, `${at}/${i}`));
      if (typeof value !== 'object' || value === null) return;
      const node = value as Schema;
      if (Array.isArray(node.type)) found.push(`${at}: type ${JSON.stringify(node.type)}`);
      for (const key of ['const', '$defs', '$schema', 'prefixItems']) if (key in node && !at.endsWith('/properties')) found.push(`${at}: ${key}`);
      for (const [key, child] of Object.entries(node)) walk(child, `${at}/${key}`);
    };
    walk(doc, '#');
    expect(found).toEqual([]);
  });

  it('gives every operation a success response with a schema (JSON, binary) or no content', () => {
    const missing = operations(doc).filter(({ op }) => {
      const success = Object.entries(op.responses).filter(([status]) => /^2\d\d$/.test(status));
      return !success.some(([status, r]) => status === '204' ? !r.content : Object.values(r.content ?? {}).some((m) => m.schema && (m.schema.$ref || m.schema.type || m.schema.anyOf || m.schema.allOf || m.schema.oneOf)));
    });
    expect(missing.map((o) => o.key)).toEqual([]);
    expect(operations(doc).length).toBeGreaterThan(100);
  });

  it('gives every operation error responses in the { error, code } shape', () => {
    expect(doc.components.schemas.Error).toMatchObject({ type: 'object', required: expect.arrayContaining(['error', 'code']) });
    const missing = operations(doc).filter(({ op }) => {
      const errors = Object.entries(op.responses).filter(([status]) => /^[45]\d\d$/.test(status));
      return errors.length === 0 || errors.some(([, r]) => r.content?.['application/json']?.schema?.$ref !== '#/components/schemas/Error');
    });
    expect(missing.map((o) => o.key)).toEqual([]);
  });

  it('requires bearer auth on every operation but the public ones, which say 401/403 only where they answer it', () => {
    for (const { key, op } of operations(doc)) {
      const isPublic = PUBLIC.has(op.operationId ?? '');
      if (isPublic) expect([key, op.security]).toEqual([key, []]);
      else {
        expect([key, op.security]).toEqual([key, [{ bearer: [] }]]);
        expect([key, Object.keys(op.responses)]).toEqual([key, expect.arrayContaining(['401', '403'])]);
      }
    }
    expect((doc as unknown as { components: { securitySchemes: Schema } }).components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('describes request statuses a route can answer: bodies 400/413/415/422, path ids 404, writes 409/412', () => {
    const createServer = doc.paths['/api/v1/servers'].post;
    expect(Object.keys(createServer.responses)).toEqual(expect.arrayContaining(['201', '400', '401', '403', '409', '413', '415', '422', '503']));
    const updateServer = doc.paths['/api/v1/servers/{id}'].patch;
    expect(Object.keys(updateServer.responses)).toEqual(expect.arrayContaining(['200', '404', '409', '412', '422']));
    expect(Object.keys(doc.paths['/api/v1/auth/login'].post.responses)).toEqual(expect.arrayContaining(['200', '422', '429']));
    expect(doc.paths['/api/v1/servers'].get.responses['200'].content?.['application/json']?.schema).toEqual({ $ref: '#/components/schemas/ServerPage' });
    expect(doc.components.schemas.Server).toMatchObject({ type: 'object', required: expect.arrayContaining(['id', 'state', 'node_id']) });
  });

  it('describes template variables in the 3.0 dialect (was: type arrays swagger-parser rejected)', () => {
    const body = doc.components.schemas.CreateServerDto as { properties: { variables: { additionalProperties: Schema } } };
    expect(body.properties.variables.additionalProperties).toEqual(expect.objectContaining({ anyOf: [{ type: 'string' }, { type: 'number' }, { type: 'boolean' }] }));
  });
});

describe('toOpenApi30Schema', () => {
  it('rewrites 3.1-isms into 3.0', () => {
    expect(toOpenApi30Schema({ type: ['string', 'null'] })).toEqual({ type: 'string', nullable: true });
    expect(toOpenApi30Schema({ type: ['string', 'number', 'boolean'] })).toEqual({ anyOf: [{ type: 'string' }, { type: 'number' }, { type: 'boolean' }] });
    expect(toOpenApi30Schema({ anyOf: [{ $ref: '#/components/schemas/X' }, { type: 'null' }] })).toEqual({ nullable: true, allOf: [{ $ref: '#/components/schemas/X' }] });
    expect(toOpenApi30Schema({ anyOf: [{ type: 'string' }, { type: 'integer' }, { type: 'null' }] })).toEqual({ anyOf: [{ type: 'string' }, { type: 'integer' }], nullable: true });
    expect(toOpenApi30Schema({ const: 'a' })).toEqual({ enum: ['a'] });
    expect(toOpenApi30Schema({ type: 'number', exclusiveMinimum: 0 })).toEqual({ type: 'number', minimum: 0, exclusiveMinimum: true });
    expect(toOpenApi30Schema({ type: 'integer', minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER })).toEqual({ type: 'integer' });
    expect(toOpenApi30Schema({ type: 'object', propertyNames: { pattern: 'x' }, additionalProperties: { const: 1 }, $schema: 'x' })).toEqual({ type: 'object', additionalProperties: { enum: [1] } });
    expect(toOpenApi30Schema({ type: 'array', prefixItems: [{ type: 'string' }, { type: 'number' }] })).toEqual({ type: 'array', items: { anyOf: [{ type: 'string' }, { type: 'number' }] }, minItems: 2, maxItems: 2 });
    expect(toOpenApi30Schema({ $ref: '#/x', description: 'd' })).toEqual({ description: 'd', allOf: [{ $ref: '#/x' }] });
    expect(toOpenApi30Schema({ type: 'object', properties: { a: { type: ['integer', 'null'], examples: [1] } } })).toEqual({ type: 'object', properties: { a: { type: 'integer', nullable: true, example: 1 } } });
  });
});
