import { Worker } from 'node:worker_threads';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { MAX_PLUGIN_CONFIG_BYTES, ServiceUnavailableError, ValidationError } from '@encedeus/contracts';

/*
 * A plugin's config_schema comes from a repository, so it is not trusted: it is bounded in size by
 * the manifest's schema (jsonValue bounds), compiled without ajv's strict checks that would refuse a
 * sloppy but harmless schema, and cached by its text so a schema is compiled once per process.
 *
 * Its regular expressions (`pattern`, `patternProperties`) run in V8's backtracking engine, where
 * `(a+)+$` on 'aaaa…!' takes exponential time and blocks the thread. So (1) every pattern is checked
 * when the repository is synced and again at install/configure: at most MAX_PATTERN_LENGTH
 * characters, no quantified group that holds a quantifier or an alternation (`(a+)+`, `(a|a)*`), no
 * backreference; and (2) a config is first validated in a worker thread with a time bound
 * (validatePluginConfigBounded, CONFIG_VALIDATION_MS), so a pattern whose backtracking is merely
 * polynomial (`\d*\d*\d*\d*$`) is refused (422) past that bound without holding the service's
 * thread; only a config validated within it reaches the decider, whose own check runs the same
 * validation (so the thread is held at most about that long). The config itself is at most MAX_PLUGIN_CONFIG_BYTES of JSON.
 */
const AJV_OPTIONS = { allErrors: true, strict: false, validateSchema: true } as const;
const ajv = new Ajv(AJV_OPTIONS);
const compiled = new Map<string, ValidateFunction>();
const MAX_CACHED = 500;
/** Longest `pattern` (or `patternProperties` key) a config_schema may hold. */
export const MAX_PATTERN_LENGTH = 256;
/** Time a config's validation (schema compile included) may take in the bounded worker; the decider then runs it again on the service's thread. */
export const CONFIG_VALIDATION_MS = 500;
/** Time the validator thread may take to start (load ajv) before the first validation. */
const VALIDATOR_START_MS = 15_000;

/** Why a regular expression may backtrack catastrophically (or is refused for its size), else null. */
export function patternProblem(pattern: string): string | null {
  if (pattern.length > MAX_PATTERN_LENGTH) return `is longer than ${MAX_PATTERN_LENGTH} characters`;
  try {
    new RegExp(pattern, 'u');
  } catch (error) {
    return `is not a valid regular expression (${(error as Error).message.slice(0, 100)})`;
  }
  // One frame per open group: whether it holds a quantifier or an alternation.
  const frames: { quantified: boolean; alternation: boolean }[] = [{ quantified: false, alternation: false }];
  /** The atom a following quantifier applies to: a group's frame, or null for a single character/class. */
  let last: { quantified: boolean; alternation: boolean } | null | undefined;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      const next = pattern[i + 1] ?? '';
      if (/[1-9]/.test(next) || next === 'k') return 'holds a backreference';
      if ((next === 'p' || next === 'P' || next === 'u') && pattern[i + 2] === '{') i = pattern.indexOf('}', i) === -1 ? pattern.length : pattern.indexOf('}', i);
      else i++;
      last = null;
      continue;
    }
    if (c === '[') {
      for (i++; i < pattern.length && pattern[i] !== ']'; i++) if (pattern[i] === '\\') i++;
      last = null;
      continue;
    }
    if (c === '(') {
      frames.push({ quantified: false, alternation: false });
      if (pattern[i + 1] === '?') {
        // (?:  (?=  (?!  (?<=  (?<!  (?<name>
        if (pattern[i + 2] === '<' && pattern[i + 3] !== '=' && pattern[i + 3] !== '!') i = pattern.indexOf('>', i);
        else i += pattern[i + 2] === '<' ? 3 : 2;
      }
      last = undefined;
      continue;
    }
    if (c === ')') {
      const frame = frames.length > 1 ? frames.pop()! : frames[0];
      const parent = frames[frames.length - 1];
      parent.quantified ||= frame.quantified;
      last = frame;
      continue;
    }
    if (c === '|') {
      frames[frames.length - 1].alternation = true;
      last = undefined;
      continue;
    }
    const quantifier = c === '*' || c === '+' || c === '?' ? c : c === '{' ? /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i))?.[0] : undefined;
    if (quantifier === undefined) {
      last = null;
      continue;
    }
    const bounds = /^\{(\d+)(,(\d*))?\}$/.exec(quantifier);
    const repeats = quantifier === '*' || quantifier === '+' || (bounds !== null && (bounds[2] === undefined ? Number(bounds[1]) > 1 : bounds[3] === '' || Number(bounds[3]) > 1));
    if (repeats && last && last.quantified) return 'repeats a group that holds a quantifier (nested quantifiers backtrack catastrophically)';
    if (repeats && last && last.alternation) return 'repeats a group that holds an alternation (it can backtrack catastrophically)';
    frames[frames.length - 1].quantified = true;
    i += quantifier.length - 1;
    if (pattern[i + 1] === '?') i++;
    last = undefined;
  }
  return null;
}

/** Every `pattern` and `patternProperties` key of a schema that patternProblem refuses (`<path>: <why>`). */
export function schemaPatternsProblem(schema: unknown): string | null {
  const pending: [unknown, string][] = [[schema, '']];
  while (pending.length > 0) {
    const [node, path] = pending.pop()!;
    if (node === null || typeof node !== 'object') continue;
    if (Array.isArray(node)) {
      node.forEach((item, i) => pending.push([item, `${path}/${i}`]));
      continue;
    }
    for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
      // Data, not schema: a "pattern" inside them is not compiled.
      if (key === 'const' || key === 'enum' || key === 'default' || key === 'examples') continue;
      if (key === 'pattern' && typeof value === 'string') {
        const problem = patternProblem(value);
        if (problem) return `${path}/pattern ${problem}`;
      }
      if (key === 'patternProperties' && value && typeof value === 'object' && !Array.isArray(value)) {
        for (const p of Object.keys(value)) {
          const problem = patternProblem(p);
          if (problem) return `${path}/patternProperties key ${JSON.stringify(p.slice(0, 60))} ${problem}`;
        }
      }
      pending.push([value, `${path}/${key}`]);
    }
  }
  return null;
}

function fieldOf(error: ErrorObject): string {
  const path = error.instancePath.split('/').filter(Boolean).join('.');
  const missing = error.keyword === 'required' ? (error.params as { missingProperty?: string }).missingProperty : undefined;
  return ['config', path, missing].filter(Boolean).join('.');
}

function refuseSchema(schema: unknown): void {
  const problem = schemaPatternsProblem(schema);
  if (problem) throw new ValidationError("The plugin's config_schema holds a pattern that is refused", [{ path: 'config_schema', message: problem.slice(0, 300) }]);
}

function refuseConfigSize(config: unknown): void {
  const bytes = Buffer.byteLength(JSON.stringify(config) ?? '');
  if (bytes > MAX_PLUGIN_CONFIG_BYTES) throw new ValidationError(`The plugin config is larger than ${MAX_PLUGIN_CONFIG_BYTES} bytes of JSON`, [{ path: 'config', message: `${bytes} bytes, at most ${MAX_PLUGIN_CONFIG_BYTES}` }]);
}

/** Throws a ValidationError (422) naming the fields of `config` that `schema` refuses; a null schema takes any JSON object. */
export function validatePluginConfig(schema: unknown, config: unknown): void {
  refuseConfigSize(config);
  if (schema === null || schema === undefined) {
    if (config === null || typeof config !== 'object' || Array.isArray(config)) throw new ValidationError('The plugin config must be an object', [{ path: 'config', message: 'must be an object' }]);
    return;
  }
  const key = JSON.stringify(schema);
  let validate = compiled.get(key);
  if (!validate) {
    refuseSchema(schema);
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

/** Whether a config_schema compiles and its patterns are safe (checked when a repository is synced, so such a plugin is skipped there). */
export function configSchemaProblem(schema: unknown): string | null {
  if (schema === undefined) return null;
  const patterns = schemaPatternsProblem(schema);
  if (patterns) return patterns.slice(0, 300);
  try {
    ajv.compile(schema as object);
    return null;
  } catch (error) {
    return (error as Error).message.slice(0, 300);
  }
}

/** The bounded validator: ajv in a worker thread, answering `{ id, errors | error }`. */
const VALIDATOR_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Ajv = require(workerData.ajv).default;
const ajv = new Ajv(workerData.options);
const cache = new Map();
parentPort.postMessage({ ready: true });
parentPort.on('message', ({ id, schema, config }) => {
  try {
    let validate = cache.get(schema);
    if (!validate) { validate = ajv.compile(JSON.parse(schema)); if (cache.size > 100) cache.clear(); cache.set(schema, validate); }
    const ok = validate(JSON.parse(config));
    parentPort.postMessage({ id, ok, errors: ok ? [] : (validate.errors || []).slice(0, 50) });
  } catch (error) {
    parentPort.postMessage({ id, ok: false, error: String(error && error.message).slice(0, 300) });
  }
});
`;

let validator: { worker: Worker; ready: Promise<void> } | undefined;
let nextId = 1;
/** One validation at a time (a timed-out one ends the worker, and with it whatever shared it). */
let queue: Promise<unknown> = Promise.resolve();

/** The validator thread, started once and awaited until ajv is loaded (its start is not counted against a validation). */
function validatorWorker(): { worker: Worker; ready: Promise<void> } {
  if (validator) return validator;
  const worker = new Worker(VALIDATOR_SOURCE, {
    eval: true,
    workerData: { ajv: require.resolve('ajv'), options: AJV_OPTIONS },
    resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 16 },
    env: {},
  });
  worker.unref();
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the config validator did not start')), VALIDATOR_START_MS);
    const onReady = (message: { ready?: boolean }) => {
      if (!message.ready) return;
      clearTimeout(timer);
      worker.off('message', onReady);
      resolve();
    };
    worker.on('message', onReady);
    worker.once('exit', () => {
      clearTimeout(timer);
      reject(new Error('the config validator stopped'));
    });
  });
  ready.catch(() => undefined);
  const entry = { worker, ready };
  const gone = () => {
    if (validator === entry) validator = undefined;
  };
  worker.on('exit', gone);
  worker.on('error', gone);
  return (validator = entry);
}

async function runBounded(schema: unknown, config: unknown, timeoutMs: number): Promise<{ ok: boolean; errors?: ErrorObject[]; error?: string; timedOut?: boolean }> {
  const entry = validatorWorker();
  try {
    await entry.ready;
  } catch (error) {
    if (validator === entry) validator = undefined;
    void entry.worker.terminate();
    throw error;
  }
  const { worker } = entry;
  return new Promise((resolve) => {
    const id = nextId++;
    const done = (result: { ok: boolean; errors?: ErrorObject[]; error?: string; timedOut?: boolean }) => {
      clearTimeout(timer);
      worker.off('message', onMessage);
      worker.off('exit', onExit);
      resolve(result);
    };
    const onMessage = (message: { id: number; ok: boolean; errors?: ErrorObject[]; error?: string }) => {
      if (message.id === id) done(message);
    };
    const onExit = () => done({ ok: false, error: 'the validator stopped' });
    const timer = setTimeout(() => {
      if (validator === entry) validator = undefined;
      void worker.terminate();
      done({ ok: false, timedOut: true });
    }, timeoutMs);
    worker.on('message', onMessage);
    worker.on('exit', onExit);
    worker.postMessage({ id, schema: JSON.stringify(schema), config: JSON.stringify(config) });
  });
}

/**
 * validatePluginConfig with a time bound: sizes and patterns are checked here, then the schema runs
 * on the config in a worker thread for at most `timeoutMs`; past it the config is refused (422)
 * and the worker ended. Call it before a command whose decider validates the same config.
 */
export async function validatePluginConfigBounded(schema: unknown, config: unknown, timeoutMs = CONFIG_VALIDATION_MS): Promise<void> {
  refuseConfigSize(config);
  if (schema === null || schema === undefined) return validatePluginConfig(schema, config);
  refuseSchema(schema);
  const run = queue.then(() => runBounded(schema, config, timeoutMs));
  queue = run.catch(() => undefined);
  const result = await run.catch((error: Error) => {
    throw new ServiceUnavailableError(`The plugin config could not be validated: ${error.message}`);
  });
  if (result.timedOut) {
    throw new ValidationError(`The plugin's config_schema took longer than ${timeoutMs} ms to validate the config (a pattern that backtracks)`, [
      { path: 'config_schema', message: `validation exceeded ${timeoutMs} ms` },
    ]);
  }
  if (result.error !== undefined && !result.errors) throw new ValidationError("The plugin's config_schema is not a valid JSON Schema", [{ path: 'config_schema', message: result.error }]);
  // The decider's own check (same ajv, same schema) is now known to be quick.
  if (!result.ok) {
    throw new ValidationError(
      'The plugin config does not match its config_schema',
      (result.errors ?? []).slice(0, 50).map((e) => ({ path: fieldOf(e), message: e.message ?? e.keyword })),
    );
  }
}
