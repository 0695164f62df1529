import { z } from 'zod';

// String.prototype.isWellFormed is ES2024; the console and older targets compile this file too.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True when `s` holds no NUL byte and no lone UTF-16 surrogate (neither can be stored in Postgres text or encoded as UTF-8). */
export function isSafeText(s: string): boolean {
  return !s.includes('\0') && !LONE_SURROGATE.test(s);
}

/**
 * `s` with every NUL byte and lone surrogate replaced by U+FFFD: for text that is kept as it came
 * rather than refused (a job's output, cut at a size cap that may split a surrogate pair).
 */
export function toSafeText(s: string): string {
  return s.split('\0').join('\uFFFD').replace(new RegExp(LONE_SURROGATE.source, 'g'), '\uFFFD');
}

/**
 * The one string schema of the contract: `z.string()` that refuses NUL bytes and lone surrogates.
 * Every string a client, agent or service can send goes through it (DESIGN.md §6, "any string input").
 */
export function text() {
  return z.string().refine(isSafeText, { message: 'must not contain NUL bytes or lone surrogates' });
}

/** Bounds of `jsonValue()`. */
export interface JsonValueBounds {
  /** How deep arrays and objects may nest. @default 16 */
  maxDepth?: number;
  /** How many values (containers, keys' values, items) the whole value may hold. @default 4096 */
  maxValues?: number;
}

/**
 * What is wrong with `value` as a free-form JSON value, or null: anything but plain objects, arrays,
 * safe-text strings (keys too), finite numbers, booleans and null, or past the bounds. Iterative, so a
 * deeply nested value cannot overflow the stack.
 */
export function jsonValueProblem(value: unknown, { maxDepth = 16, maxValues = 4096 }: JsonValueBounds = {}): string | null {
  const pending: [unknown, number][] = [[value, 0]];
  let seen = 0;
  while (pending.length > 0) {
    const [v, depth] = pending.pop()!;
    if (++seen > maxValues) return `holds more than ${maxValues} values`;
    if (v === null || typeof v === 'boolean') continue;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return 'holds a number that is not finite';
      continue;
    }
    if (typeof v === 'string') {
      if (!isSafeText(v)) return 'holds a string with a NUL byte or a lone surrogate';
      continue;
    }
    if (typeof v !== 'object') return `holds a ${typeof v}, which JSON has not`;
    if (depth >= maxDepth) return `nests deeper than ${maxDepth}`;
    if (Array.isArray(v)) {
      for (const item of v) pending.push([item, depth + 1]);
      continue;
    }
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) return 'holds an object that is not plain JSON';
    for (const [key, item] of Object.entries(v)) {
      if (!isSafeText(key)) return 'holds a key with a NUL byte or a lone surrogate';
      pending.push([item, depth + 1]);
    }
  }
  return null;
}

/**
 * A free-form JSON value (what an agent reports as its capabilities, say): refuses NUL bytes and lone
 * surrogates in every string and key at any depth, and values past `bounds` (DESIGN.md §6, "any string input").
 */
export function jsonValue(bounds: JsonValueBounds = {}) {
  return z.unknown().superRefine((value, ctx) => {
    const problem = jsonValueProblem(value, bounds);
    if (problem) ctx.addIssue({ code: 'custom', message: `must be plain JSON with safe text; this ${problem}` });
  });
}
