/*
 * A small syntax highlighter for the server file editor: one regular expression per language made of
 * token rules, scanned once (no per-character loop), producing escaped HTML with `tok-*` spans. It
 * colours what game-server configs and scripts hold (properties, YAML, JSON, TOML/INI, shell, JS,
 * Python, Lua, XML, Markdown); it does not parse, so an odd construct is coloured plainly, never lost.
 */

/** Languages the editor colours; `plain` is escaped text only. */
export type Language = 'plain' | 'json' | 'yaml' | 'ini' | 'shell' | 'js' | 'python' | 'lua' | 'xml' | 'markdown' | 'clike';

/** Token classes (CSS `tok-<class>`). */
type Token = 'comment' | 'string' | 'number' | 'keyword' | 'literal' | 'key' | 'section' | 'tag' | 'attr' | 'variable' | 'heading' | 'code';

/** Above this many characters the editor shows plain text: re-colouring on every keystroke would lag. */
export const HIGHLIGHT_MAX_CHARS = 200_000;

const EXTENSIONS: Readonly<Record<string, Language>> = {
  json: 'json', json5: 'json', mcmeta: 'json',
  yml: 'yaml', yaml: 'yaml',
  properties: 'ini', ini: 'ini', cfg: 'ini', conf: 'ini', toml: 'ini', env: 'ini',
  sh: 'shell', bash: 'shell', zsh: 'shell', command: 'shell',
  js: 'js', mjs: 'js', cjs: 'js', ts: 'js', mts: 'js', cts: 'js', jsx: 'js', tsx: 'js',
  py: 'python',
  lua: 'lua',
  xml: 'xml', html: 'xml', htm: 'xml', svg: 'xml',
  md: 'markdown', markdown: 'markdown',
  java: 'clike', kt: 'clike', c: 'clike', h: 'clike', cpp: 'clike', hpp: 'clike', cs: 'clike', go: 'clike', rs: 'clike', sk: 'clike',
};

/** The language of a file, from its extension (`server.properties` → ini, `.env` → ini). */
export function languageOf(fileName: string): Language {
  const name = fileName.toLowerCase();
  if (name === '.env' || name.startsWith('.env.')) return 'ini';
  if (name === 'dockerfile' || name === 'makefile') return 'shell';
  const dot = name.lastIndexOf('.');
  return dot < 0 ? 'plain' : (EXTENSIONS[name.slice(dot + 1)] ?? 'plain');
}

// Rule sources must not hold capturing groups: the combined expression tells rules apart by group index.
const DQ = String.raw`"(?:[^"\\\n]|\\.)*"?`;
const SQ = String.raw`'(?:[^'\\\n]|\\.)*'?`;
const NUMBER = String.raw`\b(?:0[xX][0-9a-fA-F_]+|\d[\d_]*(?:\.\d+)?(?:[eE][+-]?\d+)?)\b`;
const words = (list: string) => String.raw`\b(?:${list.trim().split(/\s+/).join('|')})\b`;
const HASH_COMMENT = String.raw`(?:^|(?<=\s))#[^\n]*`;
const C_COMMENT = String.raw`\/\/[^\n]*|\/\*[\s\S]*?(?:\*\/|$(?![\s\S]))`;

const RULES: Readonly<Record<Exclude<Language, 'plain'>, readonly (readonly [Token, string])[]>> = {
  json: [
    ['key', `${DQ}(?=\\s*:)`],
    ['string', DQ],
    ['number', String.raw`-?${NUMBER}`],
    ['literal', words('true false null')],
    ['comment', C_COMMENT],
  ],
  yaml: [
    ['comment', HASH_COMMENT],
    ['key', String.raw`(?<=^[ \t]*(?:-[ \t]+)?)(?:(?:[\w.$/]|-(?![ \t]))[\w .$/-]*?|${DQ}|${SQ})(?=[ \t]*:(?:[ \t]|$))`],
    ['string', `${DQ}|${SQ}`],
    ['literal', words('true false yes no on off null')],
    ['number', NUMBER],
  ],
  ini: [
    ['comment', String.raw`^[ \t]*[#;!][^\n]*`],
    ['section', String.raw`^[ \t]*\[[^\]\n]*\]`],
    ['key', String.raw`(?<=^[ \t]*)[^=:\s#;!\[][^=:\n]*?(?=[ \t]*[=:])`],
    ['string', `${DQ}|${SQ}`],
    ['literal', words('true false')],
    ['number', NUMBER],
  ],
  shell: [
    ['comment', HASH_COMMENT],
    ['string', `${DQ}|${SQ}`],
    ['variable', String.raw`\$\{[^}\n]*\}?|\$[\w@#?$!*-]`],
    ['keyword', words('if then else elif fi for while until do done case esac function in return export local readonly set unset exec echo cd exit source')],
    ['number', NUMBER],
  ],
  js: [
    ['comment', C_COMMENT],
    ['string', `${DQ}|${SQ}|\`(?:[^\`\\\\]|\\\\.)*\`?`],
    ['keyword', words(`const let var function return if else for while do switch case break continue new class extends import export from
      default async await try catch finally throw typeof instanceof of in this super yield interface type enum implements private protected public readonly static`)],
    ['literal', words('true false null undefined NaN Infinity')],
    ['number', NUMBER],
  ],
  python: [
    ['comment', HASH_COMMENT],
    ['string', `"""[\\s\\S]*?(?:"""|$(?![\\s\\S]))|'''[\\s\\S]*?(?:'''|$(?![\\s\\S]))|${DQ}|${SQ}`],
    ['keyword', words(`def class return if elif else for while in not and or is import from as with try except finally raise pass break continue
      lambda yield global nonlocal async await del assert`)],
    ['literal', words('True False None')],
    ['number', NUMBER],
  ],
  lua: [
    ['comment', String.raw`--\[\[[\s\S]*?(?:\]\]|$(?![\s\S]))|--[^\n]*`],
    ['string', String.raw`\[\[[\s\S]*?(?:\]\]|$(?![\s\S]))|${DQ}|${SQ}`],
    ['keyword', words('local function return if then elseif else end for while do repeat until in and or not break goto')],
    ['literal', words('true false nil')],
    ['number', NUMBER],
  ],
  xml: [
    ['comment', String.raw`<!--[\s\S]*?(?:-->|$(?![\s\S]))`],
    ['tag', String.raw`<\/?[\w:.-]+|\/?>|<\?[\w:.-]+|\?>`],
    ['attr', String.raw`\b[\w:.-]+(?=\s*=\s*["'])`],
    ['string', `${DQ}|${SQ}`],
  ],
  markdown: [
    ['heading', String.raw`^#{1,6}[ \t][^\n]*`],
    ['code', String.raw`^\`\`\`[^\n]*|\`[^\`\n]+\``],
    ['attr', String.raw`\[[^\]\n]*\]\([^)\n]*\)`],
  ],
  clike: [
    ['comment', C_COMMENT],
    ['string', `${DQ}|${SQ}`],
    ['keyword', words(`int long short byte char float double boolean bool void var val fun func let const static final public private protected
      class struct interface enum extends implements import package using namespace return if else for while do switch case break continue new
      try catch finally throw throws this super null nullptr true false fn mut impl pub use match go defer`)],
    ['number', NUMBER],
  ],
};

const COMPILED = new Map<Language, { re: RegExp; tokens: Token[] }>();

function compiled(lang: Exclude<Language, 'plain'>): { re: RegExp; tokens: Token[] } {
  let c = COMPILED.get(lang);
  if (!c) {
    const rules = RULES[lang];
    c = { re: new RegExp(rules.map(([, source]) => `(${source})`).join('|'), 'gm'), tokens: rules.map(([token]) => token) };
    COMPILED.set(lang, c);
  }
  return c;
}

/** `text` with `&`, `<` and `>` escaped for use as HTML. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * `text` as escaped HTML with `<span class="tok-…">` around tokens of `lang`. Every character of the
 * input appears exactly once in the output's text, so the overlay lines up with the textarea.
 */
export function highlight(text: string, lang: Language): string {
  if (lang === 'plain' || text.length > HIGHLIGHT_MAX_CHARS) return escapeHtml(text);
  const { re, tokens } = compiled(lang);
  re.lastIndex = 0;
  let out = '';
  let at = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m[0].length === 0) {
      re.lastIndex++;
      continue;
    }
    const group = m.findIndex((value, i) => i > 0 && value !== undefined);
    out += escapeHtml(text.slice(at, m.index)) + `<span class="tok-${tokens[group - 1]}">${escapeHtml(m[0])}</span>`;
    at = m.index + m[0].length;
  }
  return out + escapeHtml(text.slice(at));
}
