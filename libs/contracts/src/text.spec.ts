import { jsonValue, text, toSafeText } from './text';

describe('text()', () => {
  it('accepts ordinary unicode, including astral characters', () => {
    expect(text().safeParse('héllo 🎮 server').success).toBe(true);
  });

  it('refuses a NUL byte', () => {
    expect(text().safeParse('poison\u0000srv').success).toBe(false);
  });

  it('refuses lone high and low surrogates', () => {
    expect(text().safeParse('a\uD800b').success).toBe(false);
    expect(text().safeParse('a\uDC00').success).toBe(false);
  });

  it('keeps the chained string checks', () => {
    const name = text().min(2).max(4);

    expect([name.safeParse('ab').success, name.safeParse('a').success, name.safeParse('abcde').success]).toEqual([true, false, false]);
  });
});

describe('jsonValue()', () => {
  const nested = (depth: number, bottom: unknown) => {
    let v = bottom;
    for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { d: v };
    return v;
  };

  it('accepts plain JSON: objects, arrays, strings, finite numbers, booleans and null', () => {
    expect(jsonValue().safeParse({ driver: 'process', notes: ['uid 🎮'], pids: 64, ok: true, none: null }).success).toBe(true);
  });

  it('refuses NUL bytes and lone surrogates at any depth, in values and in keys', () => {
    expect(jsonValue().safeParse(nested(10, 'a\u0000b')).success).toBe(false);
    expect(jsonValue().safeParse(nested(10, 'lone \uD800')).success).toBe(false);
    expect(jsonValue().safeParse({ deep: [{ ['k\u0000']: 1 }] }).success).toBe(false);
  });

  it('refuses what JSON cannot hold: non-finite numbers, functions, class instances', () => {
    expect([Number.NaN, Infinity, () => 1, new Date(0)].map((v) => jsonValue().safeParse({ v }).success)).toEqual([false, false, false, false]);
  });

  it('refuses values nested past maxDepth or holding more than maxValues, without recursing', () => {
    expect(jsonValue({ maxDepth: 4 }).safeParse(nested(4, 'x')).success).toBe(true);
    expect(jsonValue({ maxDepth: 4 }).safeParse(nested(5, 'x')).success).toBe(false);
    expect(jsonValue().safeParse(nested(100_000, 'x')).success).toBe(false);
    expect(jsonValue({ maxValues: 10 }).safeParse(Array.from({ length: 10 }, () => 1)).success).toBe(false);
  });
});

describe('toSafeText()', () => {
  it('replaces NUL bytes and lone surrogates with U+FFFD and keeps everything else', () => {
    expect(toSafeText('a\u0000b\u0000')).toBe('a\uFFFDb\uFFFD');
    expect(toSafeText('x\uD800 \uDC00y')).toBe('x\uFFFD \uFFFDy');
    expect(toSafeText('🎮 ok')).toBe('🎮 ok');
  });

  it('mends a surrogate pair cut in half by a size cap', () => {
    expect(text().safeParse(toSafeText('ab🎮'.slice(0, 3))).success).toBe(true);
  });
});
