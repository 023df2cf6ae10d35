/**
 * bg logs, bg backups, bg restore and bg doctor through the built CLI, over a real OpenSSH sshd,
 * against the example app deployed as BLUE and GREEN under a real pm2 with real SQLite databases
 * (test/harness/pm2.ts). The tests run in order on one deployment:
 *   doctor passes → a backup run → backups lists it (verified) → logs (escaped, JSON, follow)
 *   → restore refuses bad ids and a restore that would discard rows → restore with
 *   --accept-data-loss → bg rollback puts the database back → doctor fails on a broken env.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BG, bg } from '../harness/cli.js';
import { deployBlueGreen, inventoryDocument, type BlueGreen } from '../harness/pm2.js';
import { sshClientEnv, startSshd, type SshdHandle } from '../harness/sshd.js';

const sql = (db: string, query: string) => execFileSync('sqlite3', ['-batch', '-cmd', '.timeout 5000', db, query], { encoding: 'utf8' }).trim();
const count = (db: string) => Number(sql(db, 'SELECT count(*) FROM time_entries'));
// Terminal controls that must never reach the terminal raw (escaped as \x1b, \r, \u202e …).
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

let root = '';
let work = '';
let d: BlueGreen;
let sshd: SshdHandle;
let cliEnv: Record<string, string>;
let backupRun = '';
const run = (args: string[], inventory = 'hosts.yaml') => bg(['--inventory', join(work, inventory), ...args], { cwd: work, env: cliEnv, timeoutMs: 120_000 });

/** The log file pm2 writes an app's stdout to. */
async function outLog(app: string): Promise<string> {
  const r = await d.pm2(['jlist']);
  const list = JSON.parse(r.stdout.split('\n').reverse().find((l) => l.startsWith('['))!) as Array<{ name: string; pm2_env: { pm_out_log_path: string } }>;
  return list.find((p) => p.name === app)!.pm2_env.pm_out_log_path;
}

async function post(description: string): Promise<void> {
  const res = await fetch(d.blue.entries, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ description, minutes: 5 }) });
  expect(res.status).toBe(201);
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'bgdd-'));
  work = join(root, 'work');
  execFileSync('mkdir', ['-p', work]);
  [sshd, d] = await Promise.all([startSshd({ user: 'root' }), deployBlueGreen({ root, seed: { blue: 12, green: 3 } })]);
  const host = (extra: Record<string, unknown> = {}) =>
    d.inventoryYaml('prod', {
      ssh: { host: '127.0.0.1', port: sshd.port, user: sshd.user, key: sshd.clientKeyPath },
      path: [d.binDir],
      environment: { PM2_HOME: d.pm2Home },
      journal: join(root, 'journal'),
      ...extra,
    });
  writeFileSync(join(work, 'hosts.yaml'), inventoryDocument(host()));
  // The same host with GREEN's directory gone: doctor must say which check fails.
  writeFileSync(join(work, 'broken.yaml'), inventoryDocument(host()).replace(d.green.dir, join(root, 'no-such-dir')));
  cliEnv = sshClientEnv(sshd.knownHostsPath);
}, 180_000);

afterAll(async () => {
  await d?.stop();
  await sshd?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
}, 60_000);

describe('day-to-day commands over SSH, against real pm2 apps and SQLite databases', () => {
  it('bg doctor: reachable, not locked, every check of every built-in playbook passes (exit 0), --json', async () => {
    const r = await run(['doctor', '--host', 'prod']);
    expect(r.stderr, r.stdout).toBe('');
    expect(r.exitCode, r.stdout).toBe(0);
    expect(r.stdout).toContain('✔ reachable');
    expect(r.stdout).toContain('✔ not locked');
    expect(r.stdout).toMatch(/✔ sqlite3 is installed .*\[backup, drift, maintenance, phase1, phase2\]/);
    expect(r.stdout).toMatch(/✔ pm2 knows the app timetracking-green/);
    expect(r.stdout).not.toContain('does not apply');
    // Each check once, however many playbooks need it.
    expect(r.stdout.match(/sqlite3 is installed/g)).toHaveLength(1);
    const j = await run(['doctor', '--host', 'prod', '--json']);
    expect(j.exitCode).toBe(0);
    const [report] = JSON.parse(j.stdout) as Array<{ host: string; lock: unknown; checks: Array<{ label: string; ok: boolean; playbooks: string[] }> }>;
    expect(report!.host).toBe('prod');
    expect(report!.lock).toBeNull();
    expect(report!.checks.length).toBeGreaterThan(5);
    expect(report!.checks.every((c) => c.ok)).toBe(true);
  });

  it('bg backups lists the backups of a run: env, run id, size, rows, verified ok; --json', async () => {
    const empty = await run(['backups', '--host', 'prod']);
    expect(empty.exitCode).toBe(0);
    expect(empty.stdout).toMatch(/prod: no backups in/);
    const b = await run(['run', 'backup', '--host', 'prod']);
    expect(b.exitCode, b.stderr).toBe(0);
    backupRun = /\(run (\S+)\)/.exec(b.stdout)![1]!;

    const r = await run(['backups', '--host', 'prod']);
    expect(r.exitCode, r.stderr).toBe(0);
    // Rows: every table's, the migrations table's too.
    expect(r.stdout).toMatch(new RegExp(`blue +${backupRun.replace(/\./g, '\\.')} +\\S+ \\S*B +\\S+ +15 +ok \\(`));
    expect(r.stdout).toMatch(new RegExp(`green +${backupRun.replace(/\./g, '\\.')} .* 6 +ok \\(`));
    const j = await run(['backups', '--host', 'prod', '--json']);
    const list = JSON.parse(j.stdout) as Array<{ env: string; run: string; size: number; rows: Record<string, number>; verified: { result: string } }>;
    expect(list.map((e) => e.env).sort()).toEqual(['blue', 'green']);
    for (const e of list) {
      expect(e.run).toBe(backupRun);
      expect(e.size).toBeGreaterThan(0);
      expect(e.verified.result).toBe('ok');
    }
    expect(list.find((e) => e.env === 'blue')!.rows.time_entries).toBe(12);
  });

  it('bg logs: recent lines of both envs, prefixed with the env, app output escaped; --json gives the lines as data', async () => {
    const log = await outLog(d.blue.app);
    appendFileSync(log, 'evil \u001b[2J\u001b]0;pwned\u0007 \r\u202eline\n');
    const r = await run(['logs', '--host', 'prod', '--lines', '5']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^blue \| .*listening on/m);
    expect(r.stdout).toMatch(/^green \| .*listening on/m);
    expect(r.stdout).toContain('blue | evil \\x1b[2J\\x1b]0;pwned\\x07 \\r\\u202eline');
    expect(r.stdout).not.toMatch(RAW_CONTROL);

    const j = await run(['logs', '--host', 'prod', '--env', 'blue', '--lines', '3', '--json']);
    expect(j.exitCode, j.stderr).toBe(0);
    const lines = j.stdout.trim().split('\n').map((l) => JSON.parse(l) as { host: string; env: string; stream: string; line: string });
    expect(lines.filter((l) => l.stream === 'out').at(-1)).toEqual({ host: 'prod', env: 'blue', stream: 'out', line: 'evil \u001b[2J\u001b]0;pwned\u0007 \r\u202eline' });
    expect(new Set(lines.map((l) => l.env))).toEqual(new Set(['blue']));
  });

  it('bg logs: random app output arrives as data (--json) and never raw on the terminal', async () => {
    const log = await outLog(d.green.app);
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }).filter((s) => !/[\n\r]/.test(s)), async (text) => {
        const marker = `m${Math.random().toString(36).slice(2, 8)}`;
        appendFileSync(log, `${marker}${text}\n`);
        const [j, t] = await Promise.all([run(['logs', '--host', 'prod', '--env', 'green', '--lines', '1', '--json']), run(['logs', '--host', 'prod', '--env', 'green', '--lines', '1'])]);
        expect(j.exitCode).toBe(0);
        const out = j.stdout.trim().split('\n').map((l) => JSON.parse(l) as { stream: string; line: string }).filter((l) => l.stream === 'out');
        // Lone surrogates are not UTF-8: they arrive as U+FFFD, as in any UTF-8 log.
        expect(out.at(-1)!.line).toBe(`${marker}${Buffer.from(text, 'utf8').toString('utf8')}`);
        expect(t.stdout).not.toMatch(RAW_CONTROL);
      }),
      { numRuns: 4 },
    );
  });

  it('bg logs --follow prints new lines as they are written, and Ctrl-C ends it with exit 0', async () => {
    const log = await outLog(d.green.app);
    const child = execa('node', [BG, '--inventory', join(work, 'hosts.yaml'), 'logs', '--host', 'prod', '--env', 'green', '--lines', '0', '--follow'], { cwd: work, env: { CI: 'true', NO_COLOR: '1', ...cliEnv }, reject: false, timeout: 60_000 });
    let seen = '';
    child.stdout!.on('data', (c: Buffer) => (seen += c.toString()));
    await new Promise((r) => setTimeout(r, 2500));
    appendFileSync(log, 'followed one\nfollowed \u001b[31mtwo\n');
    const t0 = Date.now();
    while (!seen.includes('followed \\x1b[31mtwo') && Date.now() - t0 < 15_000) await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGINT');
    const r = await child;
    expect(seen).toContain('followed one\n');
    expect(seen).toContain('followed \\x1b[31mtwo\n');
    expect(r.exitCode).toBe(0);
  });

  it('bg restore refuses ids that are not a backup of that env (exit 2), changing nothing', async () => {
    const before = count(d.blue.db);
    const bad = [`green-${backupRun}.db`, '../../etc/passwd', `blue-${backupRun}.db/../x`, '20000101T000000.000Z-dead', `--${backupRun}`];
    for (const id of bad) {
      const r = await run(['restore', '--host', 'prod', '--env', 'blue', `--backup=${id}`]);
      expect(r.exitCode, `${id}: ${r.stderr}`).toBe(2);
    }
    const unknownEnv = await run(['restore', '--host', 'prod', '--env', 'purple', '--backup', backupRun]);
    expect(unknownEnv.exitCode).toBe(2);
    expect(unknownEnv.stderr).toContain('has no env "purple"');
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 1, maxLength: 30 }), async (id) => {
        const r = await run(['restore', '--host', 'prod', '--env', 'blue', `--backup=${id}`]);
        expect(r.exitCode).toBe(2);
        expect(r.stderr).not.toMatch(RAW_CONTROL);
      }),
      { numRuns: 5 },
    );
    expect(count(d.blue.db)).toBe(before);
    expect(readdirSync(d.blue.dir).filter((f) => f.includes('restored-over'))).toEqual([]);
  });

  it('bg restore shows what it would discard and refuses without --accept-data-loss; --dry-run changes nothing', async () => {
    await post('after the backup 1');
    await post('after the backup 2');
    const before = count(d.blue.db);
    expect(before).toBe(14);
    const refused = await run(['restore', '--host', 'prod', '--env', 'blue', '--backup', backupRun]);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toMatch(/discards rows of blue written after it: time_entries 2 rows/);
    expect(refused.stderr).toContain('--accept-data-loss');
    const dry = await run(['restore', '--host', 'prod', '--env', 'blue', '--backup', `blue-${backupRun}.db`, '--dry-run']);
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`bg-backups/blue-${backupRun}.db`);
    expect(dry.stdout).toMatch(/\$ .*bg_restore_db \S+ \S+ timetracking-server /);
    expect(count(d.blue.db)).toBe(before);
  });

  it('bg restore --accept-data-loss: journaled, verified, app back up; bg rollback puts the database back as it was', async () => {
    const pid = await d.pid('blue');
    const r = await run(['restore', '--host', 'prod', '--env', 'blue', '--backup', backupRun, '--accept-data-loss']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/prod: 2 steps done/);
    expect(count(d.blue.db)).toBe(12);
    const h = await d.waitHealthy('blue', { timeoutMs: 15_000 });
    expect(h.pid).not.toBe(pid);
    // The database as it was is kept aside, and a verified copy of it is the restore run's backup.
    const aside = readdirSync(d.blue.dir).find((f) => f.startsWith('database.db.restored-over-'))!;
    expect(count(join(d.blue.dir, aside))).toBe(14);
    const list = JSON.parse((await run(['backups', '--host', 'prod', '--json'])).stdout) as Array<{ env: string; run: string; verified: { result: string } }>;
    const taken = list.filter((e) => e.env === 'blue' && e.run !== backupRun);
    expect(taken).toHaveLength(1);
    expect(taken[0]!.verified.result).toBe('ok');
    const hist = await run(['history', '--host', 'prod']);
    expect(hist.exitCode, hist.stderr).toBe(0);
    expect(hist.stdout).toMatch(/restore +\S+ +\S+ +done/);

    const back = await run(['rollback', '--host', 'prod']);
    expect(back.exitCode, back.stderr + back.stdout).toBe(0);
    expect(count(d.blue.db)).toBe(14);
    expect(sql(d.blue.db, "SELECT count(*) FROM time_entries WHERE description LIKE 'after the backup %'")).toBe('2');
    await d.waitHealthy('blue', { timeoutMs: 15_000 });
  });

  it('bg doctor exits 1 naming the failing check when an env is broken', async () => {
    const r = await run(['doctor', '--host', 'prod'], 'broken.yaml');
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(/✖ \S*no-such-dir exists/);
    expect(r.stdout).toMatch(/checks failed/);
  });
});
