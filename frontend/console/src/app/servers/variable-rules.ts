import { AbstractControl, ValidationErrors, ValidatorFn } from '@angular/forms';

/** One parsed rule of a template variable, e.g. `max:65535` → `{ name: 'max', args: ['65535'] }`. */
export interface VariableRule {
  name: string;
  args: string[];
}

const REGEX_LITERAL = /^\/(.*)\/([a-z]*)$/s;

/**
 * Splits a Pterodactyl-style rule string (`required|integer|min:1|max:65535|regex:/^\w+$/`).
 * A regex may itself contain `|`, so segments are glued back until its closing slash.
 */
export function parseRules(rules: string | string[] | null | undefined): VariableRule[] {
  const parts = Array.isArray(rules) ? rules : (rules ?? '').split('|');
  const out: VariableRule[] = [];
  for (let i = 0; i < parts.length; i++) {
    let part = parts[i].trim();
    if (!part) continue;
    const colon = part.indexOf(':');
    const name = (colon === -1 ? part : part.slice(0, colon)).trim().toLowerCase();
    if ((name === 'regex' || name === 'not_regex') && !Array.isArray(rules)) {
      while (!REGEX_LITERAL.test(part.slice(colon + 1)) && i + 1 < parts.length) part += `|${parts[++i]}`;
      out.push({ name, args: [part.slice(colon + 1)] });
      continue;
    }
    const arg = colon === -1 ? '' : part.slice(colon + 1);
    out.push({ name, args: arg === '' ? [] : arg.split(',') });
  }
  return out;
}

function toRegExp(literal: string): RegExp | null {
  const m = REGEX_LITERAL.exec(literal);
  try {
    return m ? new RegExp(m[1], m[2].replace(/[^gimsuy]/g, '')) : new RegExp(literal);
  } catch {
    return null;
  }
}

const isInteger = (v: string) => /^-?\d+$/.test(v);
const isNumeric = (v: string) => v.trim() !== '' && Number.isFinite(Number(v));

/**
 * Checks one value against a template variable's rules; returns the first failure as a sentence,
 * or null when the value passes. Unknown rules are left to the server.
 */
export function checkVariable(value: string | number | boolean | null | undefined, rules: string | string[] | null | undefined): string | null {
  const parsed = parseRules(rules);
  const text = value === null || value === undefined ? '' : String(value);
  const has = (n: string) => parsed.some((r) => r.name === n);
  if (text === '') return has('required') ? 'Required' : null;
  const numeric = has('integer') || has('numeric');
  const size = numeric ? Number(text) : text.length;
  const unit = numeric ? '' : ' characters';

  for (const { name, args } of parsed) {
    const n = Number(args[0]);
    switch (name) {
      case 'integer':
        if (!isInteger(text)) return 'Must be a whole number';
        break;
      case 'numeric':
        if (!isNumeric(text)) return 'Must be a number';
        break;
      case 'boolean':
        if (!['true', 'false', '1', '0'].includes(text.toLowerCase())) return 'Must be true or false';
        break;
      case 'min':
        if (Number.isFinite(n) && size < n) return numeric ? `Must be at least ${n}` : `At least ${n} characters`;
        break;
      case 'max':
        if (Number.isFinite(n) && size > n) return numeric ? `Must be at most ${n}` : `At most ${n} characters`;
        break;
      case 'between': {
        const hi = Number(args[1]);
        if (Number.isFinite(n) && Number.isFinite(hi) && (size < n || size > hi)) return `Must be between ${n} and ${hi}${unit}`;
        break;
      }
      case 'size':
        if (Number.isFinite(n) && size !== n) return numeric ? `Must be ${n}` : `Must be exactly ${n} characters`;
        break;
      case 'in':
        if (!args.includes(text)) return `Must be one of: ${args.join(', ')}`;
        break;
      case 'alpha_num':
        if (!/^[a-z0-9]+$/i.test(text)) return 'Only letters and digits';
        break;
      case 'alpha_dash':
        if (!/^[\w-]+$/.test(text)) return 'Only letters, digits, dashes and underscores';
        break;
      case 'regex': {
        const re = toRegExp(args[0] ?? '');
        if (re && !re.test(text)) return 'Wrong format';
        break;
      }
      case 'not_regex': {
        const re = toRegExp(args[0] ?? '');
        if (re && re.test(text)) return 'Wrong format';
        break;
      }
    }
  }
  return null;
}

/** Angular validator for a template variable; the error key is `rule`, its value the sentence. */
export function variableValidator(rules: string | string[] | null | undefined): ValidatorFn {
  return (control: AbstractControl): ValidationErrors | null => {
    const message = checkVariable(control.value, rules);
    return message ? { rule: message } : null;
  };
}

/** True when the rules make the variable mandatory. */
export function isRequired(rules: string | string[] | null | undefined): boolean {
  return parseRules(rules).some((r) => r.name === 'required');
}
