// Red team, second pass (after issues 10 and 11): the new commands (restore, backups, logs'
// flags), option-looking positionals, the inventory's PATH entries, --json on failure, journals
// written by a hostile host user, and two runs at once. Through the built CLI on the local host
// (this machine's /bin/sh, dash on Debian) with real sqlite3 databases.
import fc from 'fast-check';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { bg } from '../harness/cli.js';
import { checksumTree, makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { envsYaml, localTarget } from '../e2e/targets.js';

const SLOW = `name: slow
steps:
  - name: Mark GREEN slowly
    action: shell
    env: green
    with:
      command: sleep 2 && echo x > MARK-slow
      undo: rm -f MARK-slow
`;
const BACKUP = `name: bk
steps:
  - name: Back up BLUE
    action: backup
    env: blue
`;

describe('red team: new commands, positionals, inventory values, --json and hostile journals (local host, real sqlite3)', () => {
  let sb: Sandbox;
  let outside = '';
  let backupRun = '';
  const run = (args: string[], env: Record<string, string> = {}) => bg(args, { cwd: sb.root, env });
  const journal = () => join(sb.root, 'journal');
  const rows = (db: string) => execFileSync('sqlite3', [db, 'SELECT count(*) FROM time_entries'], { encoding: 'utf8' }).trim();
  const noCrash = (r: { exitCode: number; stderr: string }) => {
    expect(r.stderr).not.toMatch(/internal error|TypeError|at .*\.js:\d+/);
    expect(r.exitCode).not.toBe(70);
  };

  beforeAll(async () => {
    sb = makeSandbox('bg-adv-red-');
    writeFileSync(join(sb.root, 'hosts.yaml'), `hosts:\n${localTarget.hostYaml('box', envsYaml(sb, 'http://127.0.0.1:1/'))}`);
    writeFileSync(join(sb.root, 'slow.yaml'), SLOW);
    writeFileSync(join(sb.root, 'bk.yaml'), BACKUP);
    // A playbook whose file name starts with '-' (only reachable after `--`).
    writeFileSync(join(sb.root, '-dash.yaml'), SLOW.replace('name: slow', 'name: dash').replace(/sleep 2 && /, ''));
    const b = await run(['run', 'bk.yaml', '--host', 'box']);
    expect(b.exitCode, b.stderr).toBe(0);
    backupRun = /\(run (\S+)\)/.exec(b.stdout)![1]!;
    // A database outside the backups dir, holding a row BLUE never had.
    outside = join(sb.root, 'outside.db');
    execFileSync('sqlite3', [outside, "CREATE TABLE time_entries(id INTEGER PRIMARY KEY, description TEXT, minutes INT); INSERT INTO time_entries VALUES (999, 'from outside', 1)"]);
  }, 60_000);
  afterAll(() => sb.remove());
  beforeEach(() => {
    rmSync(join(journal(), 'lock'), { recursive: true, force: true });
    for (const f of readdirSync(sb.green.dir)) if (f.startsWith('MARK-')) rmSync(join(sb.green.dir, f));
  });

  it('bg restore refuses a backup that is a symlink to a database outside the backups dir (exit 2, nothing changed); bg backups does not list it', async () => {
    const fake = '20261127T000000.000Z-beef';
    const link = join(sb.root, 'backups', `blue-${fake}.db`);
    symlinkSync(outside, link);
    try {
      const before = checksumTree(sb.blue.dir);
      for (const args of [['--backup', fake, '--accept-data-loss'], [`--backup=blue-${fake}.db`, '--accept-data-loss'], ['--backup', fake, '--dry-run']]) {
        const r = await run(['restore', '--host', 'box', '--env', 'blue', ...args]);
        noCrash(r);
        expect(r.exitCode, r.stderr).toBe(2);
        expect(r.stderr).toContain('is a symbolic link');
      }
      expect(checksumTree(sb.blue.dir)).toBe(before);
      expect(rows(sb.blue.db)).toBe('25');
      const list = await run(['backups', '--host', 'box', '--json']);
      expect(list.exitCode, list.stderr).toBe(0);
      const runs = (JSON.parse(list.stdout) as Array<{ run: string }>).map((e) => e.run);
      expect(runs).toContain(backupRun);
      expect(runs).not.toContain(fake);
    } finally {
      rmSync(link, { force: true });
    }
  });

  it('bg restore: ../, -x, NUL-free controls, another env\'s file, a very long id are bad input (exit 2), nothing changed', async () => {
    const before = checksumTree(sb.root);
    const ids = ['../outside', '-x', `green-${backupRun}.db`, `blue-${backupRun}.db/../../outside`, `${backupRun}/../x`, 'a'.repeat(100_000), `blue-../${backupRun}.db`, `${backupRun}\n`];
    for (const id of ids) {
      const r = await run(['restore', '--host', 'box', '--env', 'blue', `--backup=${id}`, '--accept-data-loss']);
      noCrash(r);
      expect(r.exitCode, `${id.slice(0, 40)}: ${r.stderr.slice(0, 300)}`).toBe(2);
    }
    // As two words and after `--`: an option-looking id is still not an option nor a backup.
    for (const args of [['--backup', '-x'], ['--backup', '--', '-x']]) {
      const r = await run(['restore', '--host', 'box', '--env', 'blue', ...args]);
      noCrash(r);
      expect(r.exitCode).toBe(2);
    }
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }).filter((s) => !s.includes('\0')), async (id) => {
        const r = await run(['restore', '--host', 'box', '--env', 'blue', `--backup=${id}`, '--accept-data-loss', '--json']);
        noCrash(r);
        expect(r.exitCode).toBe(2);
        expect(r.stdout).toBe('');
      }),
      { numRuns: 5 },
    );
    expect(checksumTree(sb.root)).toBe(before);
  });

  it('bg run/plan take a playbook after -- (a name starting with -); two playbooks or none are bad input (exit 2)', async () => {
    const p = await run(['plan', '--host', 'box', '--', '-dash.yaml']);
    expect(p.exitCode, p.stderr).toBe(0);
    expect(p.stdout).toContain('Plan: dash on box');
    const r = await run(['run', '--host', 'box', '--', '-dash.yaml']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(existsSync(join(sb.green.dir, 'MARK-slow'))).toBe(true);
    // A second name after -- was silently ignored: now it is refused before anything runs.
    for (const args of [['plan', 'slow.yaml', '--host', 'box', '--', 'extra.yaml'], ['run', '--host', 'box', '--', 'slow.yaml', '-dash.yaml'], ['plan', '--host', 'box'], ['run', '--host', 'box', '--']]) {
      const bad = await run(args);
      noCrash(bad);
      expect(bad.exitCode, `${args.join(' ')}: ${bad.stderr}`).toBe(2);
    }
  });

  it('an inventory PATH entry holding `:` (two directories in one value) is bad input with file:line (validate and plan exit 2)', async () => {
    const evil = join(sb.root, 'evilbin');
    mkdirSync(evil, { recursive: true });
    writeFileSync(join(evil, 'sqlite3'), `#!/bin/sh\ntouch ${join(sb.root, 'EVILBIN')}\nexit 1\n`, { mode: 0o755 });
    const inv = join(sb.root, 'path-colon.yaml');
    writeFileSync(inv, `hosts:\n${localTarget.hostYaml('box', `    path: ["/nonexistent:${evil}"]\n${envsYaml(sb, 'http://127.0.0.1:1/')}`)}`);
    const v = await run(['validate', '--inventory', inv, inv]);
    expect(v.exitCode).toBe(2);
    expect(v.stderr).toMatch(/path-colon\.yaml:\d+:\d+: .*path\.0: .*cannot contain `:`/);
    for (const args of [['plan', 'bk.yaml', '--host', 'box', '--check'], ['status', '--host', 'box'], ['doctor', '--host', 'box']]) {
      const r = await run(['--inventory', inv, ...args]);
      noCrash(r);
      expect(r.exitCode, `${args[0]}: ${r.stderr}`).toBe(2);
    }
    expect(existsSync(join(sb.root, 'EVILBIN'))).toBe(false);
  });

  it('--json when something fails: stdout is empty or whole JSON, and the exit code is the documented one', async () => {
    const cmds = [['status'], ['history'], ['backups'], ['doctor'], ['logs'], ['unlock'], ['rollback'], ['restore', '--env', 'blue', '--backup', backupRun], ['run', 'bk.yaml'], ['plan', 'bk.yaml', '--check']];
    for (const c of cmds) {
      const r = await run([...c, '--host', 'nope', '--json']);
      noCrash(r);
      expect(r.exitCode, `${c[0]}: ${r.stderr}`).toBe(2);
      expect(r.stdout, c[0]).toBe('');
    }
    // A damaged lock: commands that change the host exit 3 with nothing on stdout; status and doctor report it as JSON.
    mkdirSync(join(journal(), 'lock'), { recursive: true });
    writeFileSync(join(journal(), 'lock', 'info.json'), '{"run":');
    for (const c of [['run', 'bk.yaml'], ['restore', '--env', 'blue', '--backup', backupRun, '--accept-data-loss']]) {
      const r = await run([...c, '--host', 'box', '--json']);
      noCrash(r);
      expect(r.exitCode, `${c[0]}: ${r.stderr}`).toBe(3);
      expect(r.stdout).toBe('');
    }
    for (const c of ['status', 'doctor']) {
      const r = await run([c, '--host', 'box', '--json']);
      noCrash(r);
      const [report] = JSON.parse(r.stdout) as Array<{ lock: { problem?: string } }>;
      expect(report!.lock.problem).toMatch(/damaged/);
    }
  });

  it('a journal written by a hostile host user: odd run directories and $(…)/ESC in its fields are never run, and shown escaped', async () => {
    const runs = join(journal(), 'runs');
    const pwned = (n: number) => join(sb.root, `PWNED${n}`);
    for (const d of [`$(touch ${pwned(1)})`, '-rf', 'x\ny', `20261127T999999.000Z-\`touch ${pwned(2)}\``]) mkdirSync(join(runs, d), { recursive: true });
    const id = '20991231T000000.000Z-beef';
    mkdirSync(join(runs, id), { recursive: true });
    writeFileSync(join(runs, id, 'seq'), '999\n');
    writeFileSync(join(runs, id, 'meta.json'), JSON.stringify({ runId: id, playbook: `$(touch ${pwned(3)})\u001b[2J\u202e`, command: 'bg run x', user: `\`touch ${pwned(4)}\``, machine: '\u001b]0;t\u0007', pid: 1, startedAt: '2099-12-31T00:00:00Z' }));
    writeFileSync(join(runs, id, 'log'), `{"t":"$(touch ${pwned(5)})","event":"run-start"}\n{"t":"2099-12-31T00:00:01Z","event":"run-end","detail":"::error::forged \u001b[31m"}\n`);
    try {
      for (const args of [['history', '--host', 'box'], ['history', '--host', 'box', '--json'], ['status', '--host', 'box'], ['backups', '--host', 'box'], ['rollback', '--host', 'box', '--dry-run']]) {
        const r = await run(args, { GITHUB_ACTIONS: 'true' });
        noCrash(r);
        expect(r.stdout + r.stderr).not.toMatch(/\u001b/);
        expect(r.stdout + r.stderr).not.toMatch(/^\s*::error/m);
      }
      const h = await run(['history', '--host', 'box']);
      expect(h.stdout).toContain('\\x1b[2J\\u202e');
      for (let n = 1; n <= 5; n++) expect(existsSync(pwned(n)), `PWNED${n}`).toBe(false);
    } finally {
      for (const d of readdirSync(runs)) if (!/^\d{8}T/.test(d) || d === id || d.includes('`')) rmSync(join(runs, d), { recursive: true, force: true });
    }
  });

  it('four bg runs at once on one host: exactly one wins, the others exit 3 and leave no run directory', async () => {
    const before = readdirSync(join(journal(), 'runs')).length;
    const results = await Promise.all([0, 1, 2, 3].map(() => run(['run', 'slow.yaml', '--host', 'box'])));
    for (const r of results) noCrash(r);
    expect(results.map((r) => r.exitCode).sort()).toEqual([0, 3, 3, 3]);
    for (const r of results.filter((x) => x.exitCode === 3)) expect(r.stderr).toMatch(/locked by another run/);
    expect(readdirSync(join(journal(), 'runs')).length).toBe(before + 1);
    expect(existsSync(join(journal(), 'lock'))).toBe(false);
  });

  it('numbers out of range are bad input before anything connects: --lines, --lock-wait, --limit', async () => {
    for (const args of [
      ['logs', '--lines', '-1'],
      ['logs', '--lines', '1e9'],
      ['logs', '--lines', 'abc'],
      ['logs', '-n', '1.5'],
      ['run', 'slow.yaml', '--lock-wait', '1e9'],
      ['restore', '--env', 'blue', '--backup', backupRun, '--lock-wait', '86401'],
      ['rollback', '--lock-wait', 'Infinity'],
      ['history', '--limit', '0'],
    ]) {
      const r = await run([...args, '--host', 'box']);
      noCrash(r);
      expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/must be a (whole )?number/);
    }
    expect(existsSync(join(sb.green.dir, 'MARK-slow'))).toBe(false);
  });
});
