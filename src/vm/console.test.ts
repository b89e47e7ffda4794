import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EscapeScanner, parseEscapeChar } from './console.ts';

const feed = (s: EscapeScanner, text: string) => {
  const r = s.feed(Buffer.from(text, 'latin1'));
  return [r.send.toString('latin1'), r.detach] as const;
};

describe('EscapeScanner', () => {
  it('immediate: Ctrl-] detaches wherever it is typed, and what came before it is sent', () => {
    const s = new EscapeScanner({ mode: 'immediate', char: 0x1d });
    assert.deepEqual(feed(s, 'ls -l\n'), ['ls -l\n', false]);
    assert.deepEqual(feed(s, 'abc\x1dxyz'), ['abc', true]);
  });

  it('line: the escape character then `.` at the start of a line detaches', () => {
    const s = new EscapeScanner({ mode: 'line', char: 0x7e });
    assert.deepEqual(feed(s, '~.'), ['', true]);
    const t = new EscapeScanner({ mode: 'line', char: 0x7e });
    assert.deepEqual(feed(t, 'cd ~.\r'), ['cd ~.\r', false]);
    // Split across reads, as keys arrive one at a time.
    assert.deepEqual(feed(t, '~'), ['', false]);
    assert.deepEqual(feed(t, '.'), ['', true]);
  });

  it('line: the escape character twice sends it once; followed by anything else, both go', () => {
    const s = new EscapeScanner({ mode: 'line', char: 0x7e });
    assert.deepEqual(feed(s, '~~.'), ['~.', false]);
    assert.deepEqual(feed(s, '\n~x'), ['\n~x', false]);
  });

  it('no escape character at all (zlogin -E)', () => {
    const s = new EscapeScanner({ mode: 'line', char: -1 });
    assert.deepEqual(feed(s, '~.\x1d'), ['~.\x1d', false]);
  });
});

describe('parseEscapeChar', () => {
  it('takes a character, ^X or octal, as zlogin -e does', () => {
    assert.equal(parseEscapeChar('#'), 0x23);
    assert.equal(parseEscapeChar('^]'), 0x1d);
    assert.equal(parseEscapeChar('^a'), 0x01);
    assert.equal(parseEscapeChar('\\035'), 0x1d);
    assert.equal(parseEscapeChar('ab'), undefined);
  });
});
