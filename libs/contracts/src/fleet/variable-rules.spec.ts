import { execFileSync } from 'node:child_process';
import { checkRules, lockedVariableChanges, renderStartup, resolveVariables, validateVariable } from './variable-rules';

describe('variable rules', () => {
  it('accepts values that satisfy the rules', () => {
    expect(validateVariable('PORT', '25565', 'required|integer|between:1,65535')).toEqual([]);
    expect(validateVariable('NAME', 'abc', 'required|string|max:20|regex:/^[a-z|]+$/')).toEqual([]);
    expect(validateVariable('OPT', '', 'nullable|integer')).toEqual([]);
  });

  it('names the variable that breaks a rule', () => {
    expect(validateVariable('PORT', '70000', 'integer|between:1,65535')[0]).toMatchObject({ path: 'variables.PORT' });
    expect(validateVariable('TYPE', 'x', 'in:a,b')[0].message).toContain('TYPE');
    expect(validateVariable('NAME', '', 'required')[0].message).toBe('NAME is required');
  });

  it('reports unknown variables and rules', () => {
    expect(resolveVariables([{ name: 'A', default: '1', rules: 'integer' }], { B: 'x' }).violations[0].path).toBe('variables.B');
    expect(checkRules('A', 'requird')[0].message).toContain('unknown rule');
  });

  it('renders placeholders as environment references, never as values', () => {
    expect(renderStartup('run {{NAME}} {{ env.NAME }} {{server.build.env.PORT}} {{MISSING}}', { NAME: "a'; rm -rf /", PORT: '1' })).toBe(
      'run ${NAME} ${NAME} ${PORT} {{MISSING}}',
    );
  });

  it('keeps a hostile value literal when sh runs the rendered line', () => {
    const values = { GREETING: 'x$(id -u)`hostname`";echo INJECTED' };

    const out = execFileSync('/bin/sh', ['-c', renderStartup('echo "greeting is {{GREETING}}"', values)], { env: values, encoding: 'utf8' });

    expect(out).toBe(`greeting is ${values.GREETING}\n`);
  });
});

describe('lockedVariableChanges', () => {
  const definitions = [
    { name: 'JAR', default: 'server.jar', rules: 'string', user_editable: false },
    { name: 'MOTD', default: 'hi', rules: 'string' },
  ];

  it('refuses a changed value of a variable the template locks', () => {
    expect(lockedVariableChanges(definitions, { JAR: '/etc/passwd', MOTD: 'x' })).toEqual([
      { path: 'variables.JAR', message: 'JAR is set by the template and cannot be changed' },
    ]);
  });

  it('accepts the locked value resent unchanged, and editable variables', () => {
    expect(lockedVariableChanges(definitions, { JAR: 'server.jar', MOTD: 'x' })).toEqual([]);
    expect(lockedVariableChanges(definitions, { JAR: 'custom.jar' }, { JAR: 'custom.jar', MOTD: 'hi' })).toEqual([]);
  });
});
