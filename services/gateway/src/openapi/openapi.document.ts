import type { INestApplication } from '@nestjs/common';
import { ModulesContainer } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { cleanupOpenApiDoc } from 'nestjs-zod';
import { z } from 'zod';
import { errorBodySchema } from '@encedeus/contracts';
import { toOpenApi30Document, toOpenApi30Schema } from './openapi-30';
import { OPERATION_REPLIES, type OperationReply } from './operation-responses';

/** Where the document is served (outside the Swagger UI at `/api/docs`). */
export const OPENAPI_JSON_PATH = 'api/v1/openapi.json';

const PUBLIC_KEY = 'encedeus:public';
const PERMISSIONS_KEY = 'encedeus:permissions';
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Malformed request (body is not JSON, bad header such as If-Match)',
  401: 'No or invalid credentials (UNAUTHENTICATED, TOKEN_EXPIRED)',
  403: 'The caller lacks a permission this route needs (FORBIDDEN)',
  404: 'Not found, or not visible to the caller (NOT_FOUND)',
  409: 'Conflicts with the current state (CONFLICT, ALREADY_EXISTS, WRONG_EXPECTED_REVISION, INSUFFICIENT_CAPACITY)',
  412: 'If-Match does not name the current version (PRECONDITION_FAILED)',
  413: 'Body or file too large, or a quota would be exceeded',
  415: 'Unsupported Content-Type',
  422: 'Validation failed (VALIDATION_FAILED, UNPROCESSABLE, IDEMPOTENCY_KEY_REUSED)',
  429: 'Too many attempts (RATE_LIMITED); details.retryAfterSeconds says when to retry',
  503: 'A service behind the gateway did not answer in time (SERVICE_UNAVAILABLE, TIMEOUT)',
};

interface RouteFacts {
  public: boolean;
  permissions: string[];
}

/** operationId (`<Controller>_<method>`, @nestjs/swagger's default) → the route's guard metadata. */
function routeFacts(app: INestApplication): Map<string, RouteFacts> {
  const facts = new Map<string, RouteFacts>();
  for (const module of app.get(ModulesContainer).values()) {
    for (const wrapper of module.controllers.values()) {
      const type = wrapper.metatype as (new (...args: never[]) => unknown) | null;
      if (!type?.prototype) continue;
      for (const name of Object.getOwnPropertyNames(type.prototype)) {
        const handler = (type.prototype as Record<string, unknown>)[name];
        if (name === 'constructor' || typeof handler !== 'function') continue;
        const read = <T>(key: string): T | undefined => Reflect.getMetadata(key, handler) ?? Reflect.getMetadata(key, type);
        facts.set(`${type.name}_${name}`, { public: read<boolean>(PUBLIC_KEY) === true, permissions: read<string[]>(PERMISSIONS_KEY) ?? [] });
      }
    }
  }
  return facts;
}

type Components = Record<string, unknown>;

/** zod schema → OpenAPI 3.0 schema; named sub-schemas (`.meta({ id })`) go to components.schemas. */
function schemaOf(schema: z.ZodType, components: Components): unknown {
  const generated = z.toJSONSchema(schema, {
    target: 'openapi-3.0',
    io: 'output',
    unrepresentable: 'any',
    override: ({ jsonSchema }) => {
      // Answers may gain fields: clients must not reject them.
      if ((jsonSchema as Record<string, unknown>).additionalProperties === false) delete (jsonSchema as Record<string, unknown>).additionalProperties;
    },
  }) as Record<string, unknown>;
  const rewrite = (value: unknown): unknown =>
    JSON.parse(JSON.stringify(value).replace(/"#\/definitions\/([^"]+)"/g, (_m, id: string) => JSON.stringify(`#/components/schemas/${id}`)));
  const { definitions, ...root } = generated as { definitions?: Record<string, unknown> };
  for (const [id, def] of Object.entries(definitions ?? {})) {
    const converted = toOpenApi30Schema(rewrite(def));
    const existing = components[id];
    if (existing !== undefined && JSON.stringify(existing) !== JSON.stringify(converted)) {
      throw new Error(`OpenAPI: two different schemas are named ${id}`);
    }
    components[id] = converted;
  }
  return toOpenApi30Schema(rewrite(root));
}

function errorStatuses(method: string, op: Record<string, unknown>, path: string, facts: RouteFacts | undefined, reply: OperationReply): number[] {
  const statuses = new Set<number>([503, ...(reply.errors ?? [])]);
  const parameters = (op.parameters ?? []) as { in: string }[];
  const hasBody = op.requestBody !== undefined || (reply.errors ?? []).includes(415);
  if (!facts?.public) statuses.add(401).add(403);
  if (hasBody) [400, 413, 415, 422].forEach((s) => statuses.add(s));
  if (parameters.some((p) => p.in === 'query')) statuses.add(422);
  if (parameters.some((p) => p.in === 'path') || /\{[^}]+\}/.test(path)) statuses.add(404).add(422);
  if (!facts?.public && ['put', 'patch', 'delete'].includes(method)) statuses.add(409).add(412).add(400);
  if (!facts?.public && method === 'post') statuses.add(409).add(422);
  return [...statuses].sort((a, b) => a - b);
}

/**
 * Describes every operation's answers: its success (schema from libs/contracts via
 * OPERATION_REPLIES, or the media type of its bytes, or no content), its errors (`{ error, code }`
 * with the statuses the route can answer) and its security (bearer unless @Public()).
 */
export function describeOperations(doc: OpenAPIObject, app: INestApplication): OpenAPIObject {
  const facts = routeFacts(app);
  const components: Components = { ...(doc.components?.schemas ?? {}) };
  const errorRef = { $ref: '#/components/schemas/Error' };
  schemaOf(z.object({ error: errorBodySchema }), components);
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method] as (Record<string, unknown> & { operationId?: string; responses?: Record<string, Record<string, unknown>> }) | undefined;
      if (!op) continue;
      const reply = op.operationId ? OPERATION_REPLIES[op.operationId] : undefined;
      const route = op.operationId ? facts.get(op.operationId) : undefined;
      const responses: Record<string, Record<string, unknown>> = {};
      const declared = Object.keys(op.responses ?? {}).find((s) => /^2\d\d$/.test(s));
      if (reply) {
        // A description the route gives itself (@ApiOkResponse) wins over the table's default.
        const routeDescription = declared ? (op.responses?.[declared]?.description as string | undefined) || undefined : undefined;
        const status = String(reply.status ?? ('empty' in reply ? 204 : declared === '204' ? 200 : (declared ?? 200)));
        if ('schema' in reply) responses[status] = { description: routeDescription ?? reply.description ?? 'Success', content: { 'application/json': { schema: schemaOf(reply.schema, components) } } };
        else if ('media' in reply) responses[status] = { description: routeDescription ?? reply.description ?? 'Success', content: { [reply.media]: { schema: { type: 'string', format: 'binary' } } } };
        else responses[status] = { description: routeDescription ?? reply.description ?? 'No content' };
        for (const code of errorStatuses(method, op, path, route, reply)) {
          responses[String(code)] = { description: ERROR_DESCRIPTIONS[code] ?? 'Error', content: { 'application/json': { schema: errorRef } } };
        }
      } else Object.assign(responses, op.responses);
      op.responses = responses;
      if (route && !route.public) op.security = [{ bearer: [] }];
      else op.security = [];
      if (route && route.permissions.length > 0) {
        const needs = `Needs permission ${route.permissions.join(', ')}.`;
        op.description = op.description ? `${op.description}\n\n${needs}` : needs;
      }
    }
  }
  return { ...doc, components: { ...doc.components, schemas: components as never } };
}

/** The gateway's OpenAPI 3.0 document, generated from its routes and the zod contracts. Needs the app's routes only (works on a `preview` app). */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const raw = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Encedeus API')
      .setDescription(
        'REST API of the Encedeus control plane. Errors are always `{ error, code, details? }`. ' +
          'Authenticate with `Authorization: Bearer <access JWT or API key>`; writes accept `Idempotency-Key`, and updates `If-Match` with the ETag of a previous answer.',
      )
      .setVersion('1')
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'Access JWT or API key' }, 'bearer')
      .build(),
  );
  return toOpenApi30Document(describeOperations(cleanupOpenApiDoc(raw), app));
}
