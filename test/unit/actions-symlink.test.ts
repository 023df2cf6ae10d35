import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { oneStep, plan, problems, runStep, undoStep } from './actions-helpers.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

/** An env `blue` in a temp dir whose name has a space, a quote and a `$(…)` in it. */
function local() {
  const base = mkdtempSync(join(tmpdir(), 'bg-link-'));
  dirs.push(base);
  const dir = join(base, `it's $(touch pwned) dir`);
  mkdirSync(dir);
  const inventory = `hosts:\n  box:\n    local: true\n    journal: ${JSON.stringify(join(base, 'journal'))}\n    envs:\n      blue: { dir: ${JSON.stringify(dir)} }\n`;
  const step = (w: string) => plan(oneStep('symlink', `env: blue\nwith: ${w}`), { host: 'box', inventory }).steps[0]!;
  return { base, dir, step };
}

describe('symlink plan', () => {
  it('re-points atomically: ln -sfn to a temporary name, then mv -T; a file in the way is hard-linked aside', () => {
    const s = plan(oneStep('symlink', 'env: blue\nwith: { link: database.db, target: "{{ host.shared_db }}" }')).steps[0]!;
    // Calls of the remote library (src/remote/links.sh): capture, switch, check, undo.
    const sd = '"$HOME"/.bg/runs/20261121T120000Z-abcd/steps/1';
    const link = '/home/ubuntu/TimeTracking-BLUE/server/database.db';
    expect(s.capture.map((c) => c.cmd)).toEqual([`bg_link_capture ${sd} ${link} ${link}.OLD`]);
    expect(s.run.map((c) => c.cmd)).toEqual([`bg_link_switch ${link} /home/ubuntu/database-shared.db ${link}.OLD`]);
    expect(s.verify.map((c) => c.cmd)).toEqual([`bg_link_check ${sd} ${link} /home/ubuntu/database-shared.db ${link}.OLD`]);
    expect(s.undo.map((c) => c.cmd)).toEqual([`bg_link_undo ${sd} ${link} ${link}.OLD`]);
  });

  it('quotes hostile paths and keeps ~/ expandable', () => {
    const s = plan(oneStep('symlink', 'with: { link: "~/x; rm -rf /", target: "it\'s" }')).steps[0]!;
    expect(s.run[0]!.cmd).toBe(`bg_link_switch "$HOME"/'x; rm -rf /' 'it'\\''s' "$HOME"/'x; rm -rf /.OLD'`);
  });

  it('needs link and target', () => {
    expect(problems(oneStep('symlink', 'with: { link: a }'))).toEqual([expect.stringMatching(/with\.target: `with\.target` is required/)]);
  });
});

describe('symlink through a real sh', () => {
  it('replaces a file by a link, keeping the file (same inode) as .OLD; undo moves it back', () => {
    const { base, dir, step } = local();
    writeFileSync(join(dir, 'database.db'), 'old data');
    writeFileSync(join(base, 'shared.db'), 'shared');
    const ino = statSync(join(dir, 'database.db')).ino;
    const s = step(`{ link: database.db, target: ${JSON.stringify(join(base, 'shared.db'))} }`);
    expect(runStep(s)).toMatchObject({ code: 0 });
    expect(readlinkSync(join(dir, 'database.db'))).toBe(join(base, 'shared.db'));
    expect(statSync(join(dir, 'database.db.OLD')).ino).toBe(ino);
    expect(undoStep(s).code).toBe(0);
    expect(lstatSync(join(dir, 'database.db')).isFile()).toBe(true);
    expect(statSync(join(dir, 'database.db')).ino).toBe(ino);
    expect(existsSync(join(dir, 'database.db.OLD'))).toBe(false);
    expect(existsSync(join(dir, 'pwned'))).toBe(false);
  });

  it('re-points an existing link; undo restores the previous target', () => {
    const { dir, step } = local();
    symlinkSync('releases/v1', join(dir, 'current'));
    const s = step('{ link: current, target: releases/v2 }');
    expect(runStep(s)).toMatchObject({ code: 0 });
    expect(readlinkSync(join(dir, 'current'))).toBe('releases/v2');
    expect(undoStep(s).code).toBe(0);
    expect(readlinkSync(join(dir, 'current'))).toBe('releases/v1');
  });

  it('creates a missing link; undo removes it', () => {
    const { dir, step } = local();
    const s = step('{ link: current, target: releases/v2 }');
    expect(runStep(s)).toMatchObject({ code: 0 });
    expect(undoStep(s).code).toBe(0);
    expect(existsSync(join(dir, 'current'))).toBe(false);
    expect(() => lstatSync(join(dir, 'current'))).toThrow();
  });

  it('refuses to overwrite an existing keep file, and refuses a directory', () => {
    const { dir, step } = local();
    writeFileSync(join(dir, 'a'), '1');
    writeFileSync(join(dir, 'a.OLD'), 'older');
    const r = runStep(step('{ link: a, target: b }'));
    expect(r).toMatchObject({ code: 1, phase: 'capture' });
    expect(r.stderr).toContain('already exists');
    expect(readFileSync(join(dir, 'a'), 'utf8')).toBe('1');
    mkdirSync(join(dir, 'd'));
    expect(runStep(step('{ link: d, target: b }')).stderr).toContain('is a directory');
  });

  it('a keep_as name is used instead of .OLD', () => {
    const { dir, step } = local();
    writeFileSync(join(dir, 'a'), '1');
    const s = step('{ link: a, target: b, keep_as: a.before-bg }');
    expect(runStep(s)).toMatchObject({ code: 0 });
    expect(readFileSync(join(dir, 'a.before-bg'), 'utf8')).toBe('1');
    expect(undoStep(s).code).toBe(0);
    expect(readFileSync(join(dir, 'a'), 'utf8')).toBe('1');
  });
});
