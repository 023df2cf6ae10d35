import { execa } from 'execa';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bg, BG } from '../harness/cli.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { targets } from './all-targets.js';
import { envsYaml } from './targets.js';

const PLAYBOOK = new URL('../fixtures/playbooks/e2e-journal.yaml', import.meta.url).pathname;

describe.each(targets())('journal, rollback, history, locks on the $name host', (target) => {
  let sb: Sandbox;
  let env: Record<string, string>;
  const run = (args: string[]) => bg(args, { cwd: sb.root, env });
  const envFile = () => readFileSync(join(sb.blue.dir, '.env'), 'utf8');

  beforeAll(async () => {
    await target.setup();
    sb = makeSandbox('bg-journal-');
    writeFileSync(join(sb.root, 'hosts.yaml'), `hosts:\n${target.hostYaml('box', envsYaml(sb, 'http://127.0.0.1:1/'))}`);
    env = target.env();
  });
  afterAll(async () => {
    await target.teardown();
    sb.remove();
  });

  it('--no-rollback leaves the host; bg rollback restores it exactly, once', async () => {
    const original = envFile();
    const failed = await run(['run', PLAYBOOK, '--host', 'box', '--var', 'fail=yes', '--no-rollback']);
    expect(failed.exitCode).toBe(1);
    expect(failed.stderr).toMatch(/To undo: bg rollback --host box --run \S+/);
    expect(envFile()).toContain('TAG=a');
    expect(existsSync(join(sb.green.dir, 'MARK-a'))).toBe(true);

    const history = await run(['history', '--host', 'box']);
    expect(history.stdout).toMatch(/e2e-journal .*failed, not rolled back/);

    const dry = await run(['rollback', '--host', 'box', '--dry-run']);
    expect(dry.exitCode).toBe(0);
    expect(dry.stdout).toContain('2. Mark GREEN');
    expect(dry.stdout).toContain('rm -f MARK-a');
    expect(dry.stdout.indexOf('2. Mark GREEN')).toBeLessThan(dry.stdout.indexOf('1. Write the tag'));
    expect(envFile()).toContain('TAG=a'); // dry-run changed nothing

    const undo = await run(['rollback', '--host', 'box']);
    expect(undo.stderr).toBe('');
    expect(undo.exitCode).toBe(0);
    expect(envFile()).toBe(original);
    expect(existsSync(join(sb.green.dir, 'MARK-a'))).toBe(false);

    const again = await run(['rollback', '--host', 'box']);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toMatch(/nothing left to undo/);
    expect((await run(['history', '--host', 'box', '--json'])).stdout).toMatch(/"outcome": "rolled back \(after failed, not rolled back\)"/);
  });

  it('refuses to undo a run that a later run built on, unless --force', async () => {
    const a = await run(['run', PLAYBOOK, '--host', 'box', '--var', 'tag=first', '--json']);
    expect(a.exitCode).toBe(0);
    const firstId = JSON.parse(a.stdout.split('\n')[0]!).runId as string;
    expect((await run(['run', PLAYBOOK, '--host', 'box', '--var', 'tag=second'])).exitCode).toBe(0);
    const refused = await run(['rollback', '--host', 'box', '--run', firstId]);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toMatch(/later runs built on it: \S+ \(e2e-journal, done\)/);
    expect(existsSync(join(sb.green.dir, 'MARK-first'))).toBe(true);
    expect((await run(['rollback', '--host', 'box'])).exitCode).toBe(0); // the second run
    expect((await run(['rollback', '--host', 'box', '--run', firstId])).exitCode).toBe(0);
    expect(existsSync(join(sb.green.dir, 'MARK-first'))).toBe(false);
    expect(envFile()).not.toMatch(/TAG=/);
  });

  it('two runs started together: one works, the other exits 3 naming the holder; --lock-wait waits', async () => {
    const start = (tag: string, extra: string[] = []) =>
      execa('node', [BG, 'run', PLAYBOOK, '--host', 'box', '--var', `tag=${tag}`, '--var', 'pause=2', ...extra], { cwd: sb.root, env: { CI: 'true', ...env }, reject: false });
    const [x, y] = await Promise.all([start('x'), start('y')]);
    const codes = [x.exitCode, y.exitCode].sort();
    expect(codes).toEqual([0, 3]);
    const loser = x.exitCode === 3 ? x : y;
    expect(loser.stderr).toMatch(/box is locked by another run: run \S+ \(bg run .*\) by \S+@\S+ pid \d+ since/);
    const [p, q] = await Promise.all([start('p', ['--lock-wait', '30']), start('q', ['--lock-wait', '30'])]);
    expect([p.exitCode, q.exitCode]).toEqual([0, 0]);
  });

  it('a run killed mid-step leaves its lock; bg unlock removes it; bg rollback undoes the interrupted run', async () => {
    const child = execa('node', [BG, 'run', PLAYBOOK, '--host', 'box', '--var', 'tag=killed', '--var', 'pause=30'], { cwd: sb.root, env: { CI: 'true', ...env }, reject: false });
    for (let i = 0; i < 100 && !existsSync(join(sb.green.dir, 'MARK-killed')); i++) await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGKILL');
    await child;
    await execa('pkill', ['-f', 'sleep 30'], { reject: false });
    const locked = await run(['run', PLAYBOOK, '--host', 'box']);
    expect(locked.exitCode).toBe(3);
    const unlock = await run(['unlock', '--host', 'box']);
    expect(unlock.exitCode).toBe(0);
    expect(unlock.stdout).toMatch(/removed the lock .*its process is gone/);
    expect((await run(['history', '--host', 'box'])).stdout).toMatch(/interrupted/);
    const undo = await run(['rollback', '--host', 'box']);
    expect(undo.exitCode).toBe(0);
    expect(existsSync(join(sb.green.dir, 'MARK-killed'))).toBe(false);
    expect(envFile()).not.toMatch(/TAG=killed/);
  });
});
