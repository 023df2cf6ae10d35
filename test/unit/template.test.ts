import { describe, expect, it } from 'vitest';
import { render, type TemplateScope } from '../../src/plan/template.js';

const scope: TemplateScope = {
  blue: { dir: { kind: 'path', path: '~/TimeTracking-BLUE/server' }, port: 3000, app: 'timetracking-server' },
  vars: { release: 'x; rm -rf /', name: 'plain' },
  run: { id: '20261121T000000Z-abcd' },
};

describe('render', () => {
  it('quotes every value in shell mode', () => {
    const r = render('echo {{ vars.release }} > {{ blue.dir }}/RELEASE', scope, 'shell');
    expect(r).toEqual({ ok: true, value: `echo 'x; rm -rf /' > "$HOME"/TimeTracking-BLUE/server/RELEASE` });
  });

  it('inserts raw text in raw mode', () => {
    expect(render('{{vars.release}}@{{ blue.port }}', scope, 'raw')).toEqual({ ok: true, value: 'x; rm -rf /@3000' });
  });

  it('fails on an unknown name and lists the known ones', () => {
    const r = render('{{ vars.relase }}', scope, 'shell');
    expect(r.ok).toBe(false);
    expect(!r.ok && r.message).toContain('unknown name `vars.relase` (known: vars.name, vars.release)');
  });

  it('fails on an unknown env', () => {
    const r = render('{{ purple.dir }}', scope, 'raw');
    expect(!r.ok && r.message).toMatch(/unknown name `purple.dir` \(known: blue, run, vars\)/);
  });

  it('refuses a scope used as a value', () => {
    expect(render('{{ blue }}', scope, 'raw').ok).toBe(false);
  });

  it('reports every unknown name at once', () => {
    const r = render('{{ a.b }} {{ c.d }}', scope, 'raw');
    expect(!r.ok && r.message.split(';').length).toBe(2);
  });

  it('rejects expressions and unbalanced braces', () => {
    expect(render('{{ vars.name | upper }}', scope, 'raw').ok).toBe(false);
    expect(render('{{ vars.name', scope, 'raw').ok).toBe(false);
  });

  it('does not read inherited properties', () => {
    expect(render('{{ vars.constructor }}', scope, 'raw').ok).toBe(false);
  });
});
