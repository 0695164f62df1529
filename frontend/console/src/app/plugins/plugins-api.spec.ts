import { configFields, configFrom } from './plugins-api';

describe('configFields', () => {
  it('turns the top-level properties of an object schema into form fields', () => {
    const fields = configFields({
      type: 'object',
      required: ['url'],
      properties: { url: { type: 'string', title: 'URL' }, retries: { type: 'integer', default: 3 }, mode: { enum: ['a', 'b'] }, extra: { type: 'object' } },
    });

    expect(fields.map((f) => [f.name, f.type, f.required])).toEqual([
      ['url', 'string', true],
      ['retries', 'integer', false],
      ['mode', 'enum', false],
      ['extra', 'json', false],
    ]);
    expect(configFrom(fields, { url: 'http://x', retries: '5', mode: '', extra: '{"a":1}' })).toEqual({ url: 'http://x', retries: 5, extra: { a: 1 } });
  });

  it('has no fields without a schema', () => {
    expect(configFields(null)).toEqual([]);
  });
});
