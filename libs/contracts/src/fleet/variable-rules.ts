/**
 * Template variable rules in the Laravel-like syntax of Pterodactyl eggs:
 * `required|string|max:20`, `nullable|integer|between:1,65535`, `regex:/^[a-z]+$/`, `in:a,b`.
 * Pure code: the console reuses it to validate forms before they are sent.
 */

/** One failed rule of one variable. */
export interface RuleViolation {
  /** `variables.<NAME>` */
  path: string;
  message: string;
}

/** Supported rule names; an unknown rule is reported by `checkRules` so templates can't carry typos. */
export const KNOWN_RULES = [
  'required',
  'nullable',
  'sometimes',
  'string',
  'integer',
  'numeric',
  'boolean',
  'alpha',
  'alpha_num',
  'alpha_dash',
  'url',
  'min',
  'max',
  'between',
  'size',
  'in',
  'not_in',
  'regex',
] as const;

interface ParsedRule {
  name: string;
  args: string[];
  raw: string;
}

/** Splits `a|b:1,2|regex:/x|y/` into rules; a regex may itself contain `|`, so it is taken whole. */
export function parseRules(rules: string): ParsedRule[] {
  const result: ParsedRule[] = [];
  let rest = rules.trim();
  while (rest.length > 0) {
    let part: string;
    if (rest.startsWith('regex:/')) {
      // Laravel's own quirk: a regex rule holding `|` must be last or the parser splits it; we look for the closing `/`.
      const close = findRegexEnd(rest, 'regex:'.length);
      part = rest.slice(0, close);
      rest = rest.slice(close).replace(/^\|/, '');
    } else {
      const bar = rest.indexOf('|');
      part = bar === -1 ? rest : rest.slice(0, bar);
      rest = bar === -1 ? '' : rest.slice(bar + 1);
    }
    part = part.trim();
    if (!part) continue;
    const colon = part.indexOf(':');
    const name = (colon === -1 ? part : part.slice(0, colon)).trim();
    const argText = colon === -1 ? '' : part.slice(colon + 1);
    const args = name === 'regex' ? [argText] : argText === '' ? [] : argText.split(',').map((a) => a.trim());
    result.push({ name, args, raw: part });
  }
  return result;
}

function findRegexEnd(text: string, start: number): number {
  // text[start] is the opening '/'; find the last '/' followed by flags and then '|' or end.
  for (let i = text.length; i > start + 1; i--) {
    const candidate = text.slice(start, i);
    const m = /^\/(.*)\/([a-z]*)$/s.exec(candidate);
    if (m && (i === text.length || text[i] === '|')) return i;
  }
  return text.length;
}

function toRegExp(arg: string): RegExp | undefined {
  const m = /^\/(.*)\/([a-z]*)$/s.exec(arg);
  if (!m) return undefined;
  try {
    return new RegExp(m[1], m[2].replace(/[^imsu]/g, ''));
  } catch {
    return undefined;
  }
}

/** Reports rules a template author wrote that this validator does not understand. */
export function checkRules(name: string, rules: string): RuleViolation[] {
  const path = `variables.${name}.rules`;
  const problems: RuleViolation[] = [];
  for (const rule of parseRules(rules)) {
    if (!(KNOWN_RULES as readonly string[]).includes(rule.name)) problems.push({ path, message: `unknown rule "${rule.name}"` });
    else if (rule.name === 'regex' && !toRegExp(rule.args[0])) problems.push({ path, message: `invalid regex ${rule.args[0]}` });
    else if (['min', 'max', 'size'].includes(rule.name) && (rule.args.length !== 1 || !Number.isFinite(Number(rule.args[0]))))
      problems.push({ path, message: `${rule.name} needs one number` });
    else if (rule.name === 'between' && (rule.args.length !== 2 || rule.args.some((a) => !Number.isFinite(Number(a)))))
      problems.push({ path, message: 'between needs two numbers' });
  }
  return problems;
}

/**
 * Validates one variable's value (as the string it will be rendered as) against its rules.
 * Returns the violations; an empty list means valid. Numeric rules (min/max/between/size) compare
 * the number for `integer`/`numeric` variables and the length otherwise, as Laravel does.
 */
export function validateVariable(name: string, value: string | undefined | null, rules: string): RuleViolation[] {
  const path = `variables.${name}`;
  const parsed = parseRules(rules);
  const has = (rule: string) => parsed.some((r) => r.name === rule);
  const empty = value === undefined || value === null || value === '';
  if (empty) {
    if (has('required')) return [{ path, message: `${name} is required` }];
    return [];
  }
  const text = String(value);
  const numeric = has('integer') || has('numeric');
  const violations: RuleViolation[] = [];
  const fail = (message: string) => violations.push({ path, message });
  const measure = () => (numeric ? Number(text) : text.length);
  const unit = numeric ? '' : ' characters';
  for (const rule of parsed) {
    const [a, b] = rule.args;
    switch (rule.name) {
      case 'integer':
        if (!/^-?\d+$/.test(text)) fail(`${name} must be an integer`);
        break;
      case 'numeric':
        if (!/^-?\d+(\.\d+)?$/.test(text)) fail(`${name} must be a number`);
        break;
      case 'boolean':
        if (!['true', 'false', '0', '1'].includes(text)) fail(`${name} must be true, false, 1 or 0`);
        break;
      case 'alpha':
        if (!/^[\p{L}\p{M}]+$/u.test(text)) fail(`${name} may contain only letters`);
        break;
      case 'alpha_num':
        if (!/^[\p{L}\p{M}\p{N}]+$/u.test(text)) fail(`${name} may contain only letters and digits`);
        break;
      case 'alpha_dash':
        if (!/^[\p{L}\p{M}\p{N}_-]+$/u.test(text)) fail(`${name} may contain only letters, digits, dashes and underscores`);
        break;
      case 'url':
        if (!/^[a-z][a-z0-9+.-]*:\/\/[^\s]+$/i.test(text)) fail(`${name} must be a URL`);
        break;
      case 'min':
        if (measure() < Number(a)) fail(`${name} must be at least ${a}${unit}`);
        break;
      case 'max':
        if (measure() > Number(a)) fail(`${name} must be at most ${a}${unit}`);
        break;
      case 'size':
        if (measure() !== Number(a)) fail(`${name} must be exactly ${a}${unit}`);
        break;
      case 'between':
        if (measure() < Number(a) || measure() > Number(b)) fail(`${name} must be between ${a} and ${b}${unit}`);
        break;
      case 'in':
        if (!rule.args.includes(text)) fail(`${name} must be one of ${rule.args.join(', ')}`);
        break;
      case 'not_in':
        if (rule.args.includes(text)) fail(`${name} must not be one of ${rule.args.join(', ')}`);
        break;
      case 'regex': {
        const re = toRegExp(a);
        if (!re || !re.test(text)) fail(`${name} has an invalid format (${a})`);
        break;
      }
      default:
        break;
    }
  }
  return violations;
}

/** A template variable as far as validation and rendering are concerned. */
export interface VariableDefinition {
  name: string;
  default: string;
  rules: string;
}

/**
 * Resolves a server's variables against the template: given values win over defaults, unknown
 * names are violations, each value is checked against its rules.
 */
export function resolveVariables(
  definitions: VariableDefinition[],
  given: Record<string, string>,
): { values: Record<string, string>; violations: RuleViolation[] } {
  const violations: RuleViolation[] = [];
  const values: Record<string, string> = {};
  const known = new Set(definitions.map((d) => d.name));
  for (const name of Object.keys(given)) {
    if (!known.has(name)) violations.push({ path: `variables.${name}`, message: `${name} is not a variable of this template` });
  }
  for (const definition of definitions) {
    const value = Object.prototype.hasOwnProperty.call(given, definition.name) ? given[definition.name] : definition.default;
    violations.push(...validateVariable(definition.name, value, definition.rules));
    values[definition.name] = value ?? '';
  }
  return { values, violations };
}

/** Quotes a value for POSIX `sh` so it is always one literal word. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * Renders `{{VAR}}` placeholders of a startup line as references to environment variables (`${VAR}`),
 * as Pterodactyl does: the values reach the process only through its environment, so no value is
 * ever parsed by a shell (`$(…)`, backquotes and quotes in a value stay literal text, even inside
 * the template's own double quotes). `{{env.VAR}}` and `{{server.build.env.VAR}}` are accepted as
 * aliases. Placeholders naming no known variable stay as they are.
 */
export function renderStartup(startup: string, values: Record<string, string>): string {
  return startup.replace(/\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}/g, (whole, rawName: string) => {
    const name = rawName.replace(/^(env|server\.build\.env)\./, '');
    const known = /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && Object.prototype.hasOwnProperty.call(values, name);
    return known ? `\${${name}}` : whole;
  });
}

/** Who may change a variable the template locks (`user_editable: false`): holders of either permission. */
export const LOCKED_VARIABLE_EDITORS = ['servers.manage', 'templates.manage'] as const;

/**
 * The variables a caller wants to change although the template locks them (`user_editable: false`):
 * a given value that differs from the current one (on create: the template's default). Holders of
 * `servers.manage` or `templates.manage` may change them; everyone else gets these back as refusals.
 */
export function lockedVariableChanges(
  definitions: (VariableDefinition & { user_editable?: boolean })[],
  given: Record<string, string>,
  current?: Record<string, string>,
): RuleViolation[] {
  const violations: RuleViolation[] = [];
  for (const definition of definitions) {
    if (definition.user_editable !== false || !Object.prototype.hasOwnProperty.call(given, definition.name)) continue;
    const before = current && Object.prototype.hasOwnProperty.call(current, definition.name) ? current[definition.name] : definition.default;
    if (given[definition.name] !== before) {
      violations.push({ path: `variables.${definition.name}`, message: `${definition.name} is set by the template and cannot be changed` });
    }
  }
  return violations;
}
