import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { ValidationError } from '@encedeus/contracts';

/*
 * A plugin's config_schema comes from a repository, so it is not trusted: it is bounded in size by
 * the manifest's schema (jsonValue bounds), compiled without ajv's strict checks that would refuse a
 * sloppy but harmless schema, and cached by its text so a schema is compiled once per process.
 */
const ajv = new Ajv({ allErrors: true, strict: false, validateSchema: true });
const compiled = new Map<string, ValidateFunction>();
const MAX_CACHED = 500;

function fieldOf(error: ErrorObject): string {
  const path = error.instancePath.split('/').filter(Boolean).join('.');
  const missing = error.keyword === 'required' ? (error.params as { missingProperty?: string }).missingProperty : undefined;
  return ['config', path, missing].filter(Boolean).join('.');
}

/** Throws a ValidationError (422) naming the fields of `config` that `schema` refuses; a null schema takes any JSON object. */
export function validatePluginConfig(schema: unknown, config: unknown): void {
  if (schema === null || schema === undefined) {
    if (config === null || typeof config !== 'object' || Array.isArray(config)) throw new ValidationError('The plugin config must be an object', [{ path: 'config', message: 'must be an object' }]);
    return;
  }
  const key = JSON.stringify(schema);
  let validate = compiled.get(key);
  if (!validate) {
    try {
      validate = ajv.compile(schema as object);
    } catch (error) {
      throw new ValidationError("The plugin's config_schema is not a valid JSON Schema", [{ path: 'config_schema', message: (error as Error).message.slice(0, 300) }]);
    }
    if (compiled.size >= MAX_CACHED) compiled.delete(compiled.keys().next().value!);
    compiled.set(key, validate);
  }
  if (!validate(config)) {
    throw new ValidationError(
      'The plugin config does not match its config_schema',
      (validate.errors ?? []).slice(0, 50).map((e) => ({ path: fieldOf(e), message: e.message ?? e.keyword })),
    );
  }
}

/** Whether a config_schema compiles (checked when a repository is synced, so a broken plugin is skipped there). */
export function configSchemaProblem(schema: unknown): string | null {
  if (schema === undefined) return null;
  try {
    ajv.compile(schema as object);
    return null;
  } catch (error) {
    return (error as Error).message.slice(0, 300);
  }
}
