import { checkVariable, parseRules } from './variable-rules';

describe('parseRules', () => {
  it('splits names and arguments', () => {
    const rules = parseRules('required|integer|between:1,10');

    expect(rules).toEqual([
      { name: 'required', args: [] },
      { name: 'integer', args: [] },
      { name: 'between', args: ['1', '10'] },
    ]);
  });

  it('keeps a pipe inside a regex', () => {
    const rules = parseRules('required|regex:/^(foo|bar)$/|max:3');

    expect(rules).toEqual([
      { name: 'required', args: [] },
      { name: 'regex', args: ['/^(foo|bar)$/'] },
      { name: 'max', args: ['3'] },
    ]);
  });

  it('accepts rules already split into an array', () => {
    expect(parseRules(['required', 'min:2'])).toEqual([
      { name: 'required', args: [] },
      { name: 'min', args: ['2'] },
    ]);
  });
});

describe('checkVariable', () => {
  const port = 'required|integer|min:1|max:65535';

  it('accepts a valid port', () => {
    expect(checkVariable('25565', port)).toBeNull();
  });

  it('rejects a missing required value', () => {
    expect(checkVariable('', port)).toBe('Required');
  });

  it('rejects a non-integer', () => {
    expect(checkVariable('12.5', port)).toBe('Must be a whole number');
  });

  it('compares numbers, not lengths, when the value is numeric', () => {
    expect(checkVariable('0', port)).toBe('Must be at least 1');
    expect(checkVariable('70000', port)).toBe('Must be at most 65535');
  });

  it('compares lengths for strings', () => {
    expect(checkVariable('ab', 'string|min:3')).toBe('At least 3 characters');
    expect(checkVariable('abcd', 'string|max:3')).toBe('At most 3 characters');
  });

  it('applies regex rules with flags', () => {
    expect(checkVariable('Bar', 'regex:/^(foo|bar)$/i')).toBeNull();
    expect(checkVariable('baz', 'regex:/^(foo|bar)$/i')).toBe('Wrong format');
  });

  it('lets an empty optional value through every other rule', () => {
    expect(checkVariable('', 'nullable|integer|min:5')).toBeNull();
  });

  it('checks membership with in:', () => {
    expect(checkVariable('hard', 'in:easy,normal')).toBe('Must be one of: easy, normal');
    expect(checkVariable('easy', 'in:easy,normal')).toBeNull();
  });

  it('ignores rules it does not know', () => {
    expect(checkVariable('x', 'exists:users,id')).toBeNull();
  });
});
