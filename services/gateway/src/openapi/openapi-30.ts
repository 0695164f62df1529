/**
 * zod's JSON Schema output is JSON Schema 2020-12 (what OpenAPI 3.1 speaks); the gateway's document
 * is OpenAPI 3.0, whose Schema Object is a stricter dialect. `toOpenApi30Schema` rewrites one schema
 * (and everything nested in it) into that dialect:
 * - `type: [a, b]` → `anyOf` of single types, `'null'` among them → `nullable: true`;
 * - `anyOf`/`oneOf` with a `{ type: 'null' }` branch → `nullable: true`;
 * - `const` → a one-value `enum`; numeric `exclusiveMinimum/Maximum` → `minimum/maximum` + `true`;
 * - `examples` → `example`; `prefixItems` (tuples) → `items` with `anyOf`;
 * - `$ref` with siblings → `allOf: [{ $ref }]` beside them;
 * - keywords 3.0 does not know (`$schema`, `$id`, `$defs`, `propertyNames`, `patternProperties`,
 *   `contentEncoding`, `if`/`then`/`else`, `unevaluatedProperties`, …) are dropped, as are the
 *   ±2^53-1 bounds zod puts on every integer.
 */

type Schema = Record<string, unknown>;

const KEPT = new Set([
  'title', 'multipleOf', 'maximum', 'exclusiveMaximum', 'minimum', 'exclusiveMinimum', 'maxLength', 'minLength', 'pattern',
  'maxItems', 'minItems', 'uniqueItems', 'maxProperties', 'minProperties', 'required', 'enum', 'type', 'not', 'allOf', 'oneOf',
  'anyOf', 'items', 'properties', 'additionalProperties', 'description', 'format', 'default', 'nullable', 'discriminator',
  'readOnly', 'writeOnly', 'example', 'externalDocs', 'deprecated', 'xml', '$ref',
]);

const SAFE_INTEGER = Number.MAX_SAFE_INTEGER;

function isSchema(value: unknown): value is Schema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNullSchema(value: unknown): boolean {
  return isSchema(value) && value.type === 'null' && Object.keys(value).length === 1;
}

/** Returns a new schema in the OpenAPI 3.0 dialect; the input is not changed. */
export function toOpenApi30Schema(input: unknown): unknown {
  if (Array.isArray(input)) return input.map(toOpenApi30Schema);
  if (!isSchema(input)) return input;
  let s: Schema = { ...input };

  if (Array.isArray(s.type)) {
    const types = (s.type as string[]).filter((t) => t !== 'null');
    if (types.length < (s.type as string[]).length) s.nullable = true;
    if (types.length === 1) s.type = types[0];
    else {
      delete s.type;
      const branches = types.map((t) => ({ type: t }));
      s.anyOf = Array.isArray(s.anyOf) ? [...(s.anyOf as unknown[]), ...branches] : branches;
    }
  }
  for (const key of ['anyOf', 'oneOf'] as const) {
    const list = s[key];
    if (!Array.isArray(list) || !list.some(isNullSchema)) continue;
    const rest = list.filter((b) => !isNullSchema(b));
    s.nullable = true;
    if (rest.length === 1 && isSchema(rest[0])) {
      delete s[key];
      const sole = rest[0];
      s = '$ref' in sole ? { ...s, allOf: [sole] } : { ...sole, ...s };
    } else s[key] = rest;
  }
  if (s.type === 'null') {
    delete s.type;
    s.nullable = true;
    s.enum = [null];
  }
  if ('const' in s) {
    s.enum = [s.const];
    delete s.const;
  }
  if (typeof s.exclusiveMinimum === 'number') {
    s.minimum = s.exclusiveMinimum;
    s.exclusiveMinimum = true;
  }
  if (typeof s.exclusiveMaximum === 'number') {
    s.maximum = s.exclusiveMaximum;
    s.exclusiveMaximum = true;
  }
  if (s.minimum === -SAFE_INTEGER && s.exclusiveMinimum === undefined) delete s.minimum;
  if (s.maximum === SAFE_INTEGER && s.exclusiveMaximum === undefined) delete s.maximum;
  if (Array.isArray(s.examples) && s.example === undefined && s.examples.length > 0) s.example = s.examples[0];
  if (Array.isArray(s.prefixItems)) {
    const tuple = s.prefixItems as unknown[];
    s.items = tuple.length === 1 ? tuple[0] : { anyOf: tuple };
    s.minItems ??= tuple.length;
    s.maxItems ??= tuple.length;
  }
  if (isSchema(s.patternProperties) && s.additionalProperties === undefined) {
    const values = Object.values(s.patternProperties);
    s.additionalProperties = values.length === 1 ? values[0] : {};
  }
  if (s.nullable === false) delete s.nullable;

  const out: Schema = {};
  for (const [key, value] of Object.entries(s)) {
    if (!KEPT.has(key) && !key.startsWith('x-')) continue;
    if (key === 'properties' && isSchema(value)) {
      out.properties = Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, toOpenApi30Schema(sub)]));
    } else if (['items', 'additionalProperties', 'not'].includes(key) && isSchema(value)) {
      out[key] = toOpenApi30Schema(value);
    } else if (['allOf', 'anyOf', 'oneOf'].includes(key) && Array.isArray(value)) {
      out[key] = value.map(toOpenApi30Schema);
    } else out[key] = value;
  }
  if (typeof out.$ref === 'string' && Object.keys(out).length > 1) {
    const { $ref, ...siblings } = out;
    return { ...siblings, allOf: [{ $ref }] };
  }
  if (Array.isArray(out.items)) out.items = out.items.length === 1 ? out.items[0] : { anyOf: out.items };
  return out;
}

const OPERATION_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

interface MediaType { schema?: unknown }
interface Content { content?: Record<string, MediaType> }

/** Rewrites every schema of an OpenAPI document (components, parameters, bodies, responses) into the 3.0 dialect. */
export function toOpenApi30Document<T extends { paths?: object; components?: { schemas?: object } }>(doc: T): T {
  const fixContent = (holder: Content | undefined) => {
    for (const media of Object.values(holder?.content ?? {})) if (media.schema) media.schema = toOpenApi30Schema(media.schema);
  };
  const out = structuredClone(doc);
  const schemas = out.components?.schemas as Record<string, unknown> | undefined;
  if (schemas) for (const name of Object.keys(schemas)) schemas[name] = toOpenApi30Schema(schemas[name]);
  for (const item of Object.values((out.paths ?? {}) as Record<string, Record<string, unknown>>)) {
    for (const method of OPERATION_METHODS) {
      const op = item[method] as { parameters?: { schema?: unknown }[]; requestBody?: Content; responses?: Record<string, Content> } | undefined;
      if (!op) continue;
      for (const parameter of op.parameters ?? []) if (parameter.schema) parameter.schema = toOpenApi30Schema(parameter.schema);
      fixContent(op.requestBody);
      for (const response of Object.values(op.responses ?? {})) fixContent(response);
    }
  }
  return out;
}
