// Argument and template injection, the pure part: a value rendered into a shell template reaches
// a real sh (and bash, what a login shell over SSH may be) as the same bytes, whatever quote
// context the template author put `{{ }}` in; contexts that cannot be made safe fail at plan time.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { quotePath } from '../../src/plan/quote.js';
import { render, type TemplateScope } from '../../src/plan/template.js';

const dir = mkdtempSync(join(tmpdir(), 'bg-tctx-'));
const canary = join(dir, 'CANARY');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const scope = (x: string): TemplateScope => ({ vars: { x }, env: { dir: { kind: 'path', path: '-odd dir' } } });
const shells = ['sh', 'bash'];
const runIn = (shell: string, cmd: string) => execFileSync(shell, ['-c', cmd], { encoding: 'utf8', cwd: dir, env: { PATH: process.env.PATH, HOME: dir } });

/** Template → what the shell must print for value x. */
const contexts: Array<[string, string, (x: string) => string]> = [
  ['unquoted word', `printf '%s' {{ vars.x }}`, (x) => x],
  ["inside '…'", `printf '%s' 'a {{ vars.x }} b'`, (x) => `a ${x} b`],
  ['inside "…"', `printf '%s' "a {{ vars.x }} b"`, (x) => `a ${x} b`],
  ['assignment', `v={{ vars.x }}; printf '%s' "$v"`, (x) => x],
  ["'…' inside $( ) inside \"…\"", `printf '%s' "$(printf '%s' 'a{{ vars.x }}b')"`, (x) => `a${x}b`],
  ['"…" inside $( ) inside "…"', `printf '%s' "$(printf '%s' "a{{ vars.x }}b")"`, (x) => `a${x}b`],
  ['case inside $( )', `v=$(case a in a) printf '%s' '{{ vars.x }}' ;; esac; printf .); printf '%s' "$v"`, (x) => `${x}.`],
  ['comment', `printf 'before ' # {{ vars.x }}\nprintf after`, () => 'before after'],
  ['here-string word', `cat <<< {{ vars.x }}`, (x) => `${x}\n`],
];

// Hostile characters for sh, awk, printf, option parsing and the template syntax itself.
const hostile = fc.string({
  unit: fc.constantFrom(...`'"\\\`$(){}[]|;&<>*?~#!%-= \t\nabc`.split(''), '$(touch CANARY)', '`touch CANARY`', '{{', '}}', '\'"', 'é', '\u2028'),
  maxLength: 24,
});
const anyText = fc.string({ unit: 'grapheme', maxLength: 16 }).filter((s) => !s.includes('\u0000'));

describe('a value reaches the shell as the same bytes, in every quote context', () => {
  for (const [name, template, expected] of contexts)
    it(`${name}: ${JSON.stringify(template)}`, () => {
      fc.assert(
        fc.property(fc.oneof(hostile, anyText), (x) => {
          const r = render(template, scope(x), 'shell');
          expect(r.ok, !r.ok ? r.message : '').toBe(true);
          if (!r.ok) return;
          for (const shell of name === 'here-string word' ? ['bash'] : shells) expect(runIn(shell, r.value)).toBe(expected(x));
          expect(existsSync(canary)).toBe(false);
        }),
        { numRuns: 60 },
      );
    });

  it('a path value starting with - is never an option (./-…), and stays the same file', () => {
    expect(quotePath('-odd dir')).toBe("'./-odd dir'");
    expect(quotePath('--target-directory=/tmp')).toBe('./--target-directory=/tmp');
    const r = render('mkdir -p {{ env.dir }} && cd {{ env.dir }} && pwd', scope(''), 'shell');
    expect(r.ok && runIn('sh', r.value).trim()).toBe(join(dir, '-odd dir'));
  });

  it('a secret inside quotes still expands to the secret, never to code', () => {
    const s: TemplateScope = { vars: { s: { kind: 'secret', name: 'tok' } } };
    for (const t of [`printf '%s' '<{{ vars.s }}>'`, `printf '%s' "<{{ vars.s }}>"`, `printf '%s' {{ vars.s }}`]) {
      const r = render(t, s, 'shell');
      expect(r.ok && execFileSync('sh', ['-c', r.value], { encoding: 'utf8', env: { BG_SECRET_tok: "$(touch CANARY) '\"" } })).toMatch(/^<?\$\(touch CANARY\) '"/);
    }
  });
});

describe('contexts no quoting can make safe fail at plan time', () => {
  const refused: Array<[string, RegExp]> = [
    ['echo `echo {{ vars.x }}`', /inside backquotes/],
    ['cat <<EOF\n{{ vars.x }}\nEOF', /here-document/],
    ["cat <<'EOF'\nline {{ vars.x }}\nEOF", /here-document/],
    ['cat <<{{ vars.x }}\nx\n', /here-document delimiter/],
    ['echo ${HOME:-{{ vars.x }}}', /inside \$\{ … \}/],
    ['echo $(( {{ vars.x }} + 1 ))', /arithmetic/],
    ["echo $'{{ vars.x }}'", /inside \$'…'/],
    ['echo \\{{ vars.x }}', /after a `\\`/],
    ['echo "\\{{ vars.x }}"', /after a `\\`/],
    ['echo ${{ vars.x }}', /after `\$`/],
    ["echo '{{ vars.x }}", /unterminated `'`/],
    ['echo "$(echo {{ vars.x }}"', /unterminated/],
  ];
  it.each(refused)('%j', (template, why) => {
    const r = render(template, scope('v'), 'shell');
    expect(r.ok).toBe(false);
    expect(!r.ok && r.message).toMatch(why);
  });

  it('a here-document after the value, or one that has ended, is fine', () => {
    const r = render("printf '%s\\n' {{ vars.x }}; cat <<EOF\nbody\nEOF\nprintf '%s' {{ vars.x }}", scope("a'b"), 'shell');
    expect(r.ok && runIn('sh', r.value)).toBe("a'b\nbody\na'b");
  });
});

describe('values are data: braces in a value are not template syntax (defect 26)', () => {
  it.each(['{{', '}}', '{{ vars.x }}', 'a}}b{{c', '{{{'])('%j renders literally, in shell and raw mode', (x) => {
    expect(render('{{ vars.x }}', scope(x), 'raw')).toEqual({ ok: true, value: x });
    const r = render(`printf '%s' "{{ vars.x }}"`, scope(x), 'shell');
    expect(r.ok && runIn('sh', r.value)).toBe(x);
  });
  it('the template text itself is still checked for stray braces', () => {
    expect(render('echo {{ vars.x }} }}', scope('v'), 'shell')).toEqual({ ok: false, message: 'unbalanced `}}` in template' });
    expect(render('echo {{ vars.x', scope('v'), 'raw').ok).toBe(false);
  });
});
