import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { quotePath, shellQuote } from '../../src/plan/quote.js';

// What sh really reads back from a quoted word: the only proof that quoting is right.
const echoBack = (word: string) => execFileSync('sh', ['-c', `printf '%s' ${word}`], { encoding: 'utf8', env: { HOME: '/home/u', PATH: process.env.PATH } });

describe('shellQuote', () => {
  const hostile = [
    'x; rm -rf /',
    "it's",
    '"double" and \'single\'',
    'line one\nline two',
    '$(touch /tmp/pwned)',
    '`id`',
    '$HOME ${PATH} \\n',
    '   spaces   ',
    '*',
    '-n',
    '',
    'a|b&c>d<e',
    'ünïcødé ✓',
  ];
  it.each(hostile)('reaches the shell as the literal %j', (value) => {
    expect(echoBack(shellQuote(value))).toBe(value);
  });

  it('leaves plain words readable', () => {
    expect(shellQuote('/home/ubuntu/app')).toBe('/home/ubuntu/app');
    expect(shellQuote('v1.2.3')).toBe('v1.2.3');
    expect(shellQuote('a b')).toBe("'a b'");
  });
});

describe('quotePath', () => {
  it('keeps ~/ expandable and quotes the rest', () => {
    expect(echoBack(quotePath('~/my dir/x'))).toBe('/home/u/my dir/x');
    expect(echoBack(quotePath('~'))).toBe('/home/u');
    expect(echoBack(quotePath("/tmp/it's; rm -rf /"))).toBe("/tmp/it's; rm -rf /");
  });
  it('does not expand a tilde elsewhere', () => {
    expect(echoBack(quotePath('/a/~/b'))).toBe('/a/~/b');
  });
});
