import { renderStartup, resolveVariables, validateVariable, checkRules } from './variable-rules';

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

  it('renders startup placeholders shell-quoted', () => {
    expect(renderStartup('run {{NAME}} {{MISSING}}', { NAME: "a'; rm -rf /" })).toBe(`run 'a'\\''; rm -rf /' {{MISSING}}`);
  });
});
