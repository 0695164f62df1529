import { ValidationError } from '@encedeus/contracts';
import { configSchemaProblem, patternProblem, validatePluginConfig, validatePluginConfigBounded } from './config-validation';

/*
 * config_schema comes from a repository: a pattern that backtracks catastrophically must not hang
 * the service (ReDoS). `(a+)+$` on 'aaaa…!' takes exponential time in V8's engine.
 */
describe('config_schema patterns', () => {
  it.each(['(a+)+$', '^(a*)*b', '(a|a)*$', '(\\d+){2,}x', '((ab)*c)+', '(x+x+)+y', '(a)\\1', '(?<n>a)\\k<n>', 'a'.repeat(300)])('refuses %s', (pattern) => {
    expect(patternProblem(pattern)).not.toBeNull();
  });

  it.each(['^https?://[^/]+/.*$', '^[a-z0-9-]+$', '^(foo|bar)$', '^(ab)+$', '^\\d{1,5}$', '^(?:[a-z]{2})?[0-9]+$', '^\\p{L}+$', '[(]+\\)*'])('takes %s', (pattern) => {
    expect(patternProblem(pattern)).toBeNull();
  });

  it('refuses a schema with such a pattern anywhere (and in patternProperties), not in const/enum/default', () => {
    expect(configSchemaProblem({ type: 'object', properties: { a: { type: 'string', pattern: '(a+)+$' } } })).toMatch(/properties\/a\/pattern/);
    expect(configSchemaProblem({ type: 'object', patternProperties: { '(a+)+$': { type: 'string' } } })).toMatch(/patternProperties/);
    expect(configSchemaProblem({ type: 'object', default: { pattern: '(a+)+$' } })).toBeNull();
  });

  it('answers 422 at once for (a+)+$ on aaaa…! instead of hanging', async () => {
    const schema = { type: 'object', properties: { name: { type: 'string', pattern: '^(a+)+$' } } };
    const config = { name: `${'a'.repeat(5000)}!` };
    const started = Date.now();
    expect(() => validatePluginConfig(schema, config)).toThrow(ValidationError);
    await expect(validatePluginConfigBounded(schema, config)).rejects.toThrow(/pattern that is refused/);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('bounds in time a pattern whose backtracking is polynomial, and the validator serves the next config', async () => {
    const schema = { type: 'object', properties: { n: { type: 'string', pattern: '^\\d*\\d*\\d*\\d*\\d*$' } } };
    const started = Date.now();
    await expect(validatePluginConfigBounded(schema, { n: `${'1'.repeat(3000)}!` }, 300)).rejects.toThrow(/longer than 300 ms/);
    expect(Date.now() - started).toBeLessThan(10_000);
    await expect(validatePluginConfigBounded(schema, { n: '123' }, 5000)).resolves.toBeUndefined();
    await expect(validatePluginConfigBounded({ type: 'object', properties: { n: { type: 'number' } } }, { n: 'x' }, 5000)).rejects.toThrow(/does not match/);
  });

  it('refuses a config larger than 16 KiB of JSON', async () => {
    await expect(validatePluginConfigBounded(null, { s: 'x'.repeat(17 * 1024) })).rejects.toThrow(/larger than/);
    expect(() => validatePluginConfig({ type: 'object' }, { s: 'x'.repeat(17 * 1024) })).toThrow(/larger than/);
  });
});
