import { contentDisposition, parseRange } from './chunk-streaming';

describe('parseRange', () => {
  it('reads start-end, open ends and suffixes, clamped to the file', () => {
    expect(parseRange(undefined, 100)).toBeUndefined();
    expect(parseRange('bytes=0-9', 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange('bytes=90-', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=90-500', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-10', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-1000', 100)).toEqual({ start: 0, end: 99 });
  });

  it('serves the whole file for what it does not understand, and refuses what lies outside (416)', () => {
    expect(parseRange('bytes=0-1,5-6', 100)).toBeUndefined();
    expect(parseRange('items=0-1', 100)).toBeUndefined();
    expect(parseRange('bytes=-', 100)).toBeUndefined();
    for (const bad of ['bytes=100-', 'bytes=5-4', 'bytes=-0', 'bytes=99999999999999999999-']) {
      expect(() => parseRange(bad, 100)).toThrow(expect.objectContaining({ code: 'RANGE_NOT_SATISFIABLE' }));
    }
    expect(() => parseRange('bytes=0-', 0)).toThrow(expect.objectContaining({ code: 'RANGE_NOT_SATISFIABLE' }));
  });
});

describe('contentDisposition', () => {
  it('gives an ASCII fallback without quotes or backslashes and the UTF-8 name', () => {
    expect(contentDisposition('a "b"\\c ü.txt')).toBe(`attachment; filename="a _b__c _.txt"; filename*=UTF-8''a%20%22b%22%5Cc%20%C3%BC.txt`);
    expect(contentDisposition('x\r\ny')).not.toMatch(/[\r\n]/);
  });
});
