import { CappedOutput, LineSplitter } from './console-lines';

describe('LineSplitter', () => {
  it('emits complete lines and keeps the partial one until flushed', () => {
    const lines: string[] = [];
    const splitter = new LineSplitter((line) => lines.push(line));

    splitter.push('one\r\ntw');
    splitter.push(Buffer.from('o\nthree'));
    const beforeFlush = [...lines];
    splitter.flush();

    expect(beforeFlush).toEqual(['one', 'two']);
    expect(lines).toEqual(['one', 'two', 'three']);
  });

  it('keeps a multi-byte character split across chunks whole', () => {
    const lines: string[] = [];
    const splitter = new LineSplitter((line) => lines.push(line));
    const bytes = Buffer.from('héllo\n');

    splitter.push(bytes.subarray(0, 2));
    splitter.push(bytes.subarray(2));

    expect(lines).toEqual(['héllo']);
  });

  it('cuts an endless line into pieces', () => {
    const lines: string[] = [];
    const splitter = new LineSplitter((line) => lines.push(line), 4);

    splitter.push('abcdefghij');

    expect(lines).toEqual(['abcd', 'efgh']);
  });
});

describe('CappedOutput', () => {
  it('keeps output under the cap unchanged', () => {
    const output = new CappedOutput(10);

    output.push(Buffer.from('hello\n'));

    expect(output.text()).toBe('hello\n');
    expect(output.truncated).toBe(false);
  });

  it('truncates at the cap and says how much it dropped', () => {
    const output = new CappedOutput(4);

    const first = output.push(Buffer.from('abc'));
    const second = output.push(Buffer.from('defg'));

    expect([first, second]).toEqual([true, false]);
    expect(output.text()).toBe('abcd\n[output truncated: 3 more bytes]\n');
  });
});
