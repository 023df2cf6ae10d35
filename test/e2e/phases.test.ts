/**
 * The built-in phases against the real thing: the example app deployed as BLUE and GREEN under a
 * real pm2 (test/harness/pm2.ts), real SQLite databases written by better-sqlite3, and bg
 * reaching the host over a real OpenSSH sshd (as root: the pm2 daemon of the deployment runs as
 * root with its PM2_HOME in a temp dir). The tests run in order on one deployment:
 *
 *   BLUE at migration 001 with 20 rows, GREEN at 002 with 5 rows of its own
 *   → dry-runs change nothing → drift reports the difference → phase1 (a writer on BLUE) levels
 *   the schemas → a failing run after a migration restores the backup → env sets a .env line
 *   → phase2 refuses to pick a base → share-db refuses under its write freeze and is undone
 *   → phase2 with base=blue while a writer keeps POSTing → bg rollback puts each env back.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bg } from '../harness/cli.js';
import { deployBlueGreen, inventoryDocument, writer, type BlueGreen, type EnvName } from '../harness/pm2.js';
import { sshClientEnv, startSshd, type SshdHandle } from '../harness/sshd.js';

const fixture = (path: string) => new URL(`../fixtures/${path}`, import.meta.url).pathname;
const sql = (db: string, query: string) => execFileSync('sqlite3', ['-batch', '-cmd', '.timeout 5000', db, query], { encoding: 'utf8' }).trim();
const ids = (db: string) => new Set(sql(db, 'SELECT id FROM time_entries').split('\n').filter(Boolean).map(Number));
const columns = (db: string) => sql(db, "SELECT name FROM pragma_table_info('time_entries') ORDER BY cid").split('\n');
const migrations = (db: string) => sql(db, 'SELECT name FROM migrations ORDER BY name').split('\n');

/** The files of every fd of a process that are `file` (by inode), or none. */
function holds(pid: number, file: string): boolean {
  const want = realpathSync(file);
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (realpathSync(`/proc/${pid}/fd/${fd}`) === want) return true;
    } catch {
      // closed meanwhile, or a socket
    }
  }
  return false;
}

let root = '';
let work = '';
let d: BlueGreen;
let sshd: SshdHandle;
let cliEnv: Record<string, string>;
const run = (args: string[]) => bg(['--inventory', join(work, 'hosts.yaml'), ...args], { cwd: work, env: cliEnv, timeoutMs: 120_000 });
const runOn = (playbook: string, ...rest: string[]) => run(['run', playbook, '--host', 'prod', ...rest]);
/** Every file, link and mode of both envs (but -shm files: a reader of a WAL database updates its
 *  read marks there), and whether the shared database exists: equal means nothing changed. */
function state(): string {
  const hash = createHash('sha256');
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const st = lstatSync(path);
      if (name.endsWith('-shm') || name === 'node_modules') continue;
      hash.update(`${path}\0${st.mode}\0`);
      if (st.isSymbolicLink()) hash.update(readlinkSync(path));
      else if (st.isDirectory()) walk(path);
      else hash.update(readFileSync(path));
    }
  };
  for (const name of ['blue', 'green'] as EnvName[]) walk(d.env(name).dir);
  return `${hash.digest('hex')} ${existsSync(join(root, 'database-shared.db'))}`;
}

beforeAll(async () => {
  // Short: pm2's socket path <root>/.pm2/rpc.sock must stay under ~100 characters.
  root = mkdtempSync(join(tmpdir(), 'bgph-'));
  work = join(root, 'work');
  execFileSync('mkdir', ['-p', work]);
  [sshd, d] = await Promise.all([
    startSshd({ user: 'root' }),
    deployBlueGreen({ root, migrateTo: { blue: '001', green: '002' }, seed: { blue: 20, green: 5 } }),
  ]);
  const host = d.inventoryYaml('prod', {
    ssh: { host: '127.0.0.1', port: sshd.port, user: sshd.user, key: sshd.clientKeyPath },
    path: [d.binDir],
    environment: { PM2_HOME: d.pm2Home },
    journal: join(root, 'journal'),
  });
  writeFileSync(join(work, 'hosts.yaml'), inventoryDocument(host));
  cliEnv = sshClientEnv(sshd.knownHostsPath);
}, 180_000);

afterAll(async () => {
  await d?.stop();
  await sshd?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
}, 60_000);

describe('phases over SSH, against real pm2 apps and SQLite databases', () => {
  it('--dry-run of each playbook prints the plan and changes nothing', async () => {
    const before = state();
    const results = await Promise.all([
      runOn('phase1', '--dry-run'),
      runOn('phase2', '--dry-run'),
      runOn('env', '--dry-run', '--var', 'key=ALLOWED_ORIGINS', '--var', "value=x'; rm -rf / #"),
      runOn('drift', '--dry-run'),
    ]);
    for (const r of results) expect(r.exitCode, r.stderr).toBe(0);
    const [p1, p2, env, drift] = results.map((r) => r.stdout);
    expect(p1).toContain('npm run migrate:prod');
    expect(p1).toMatch(/restore .*bg-backups\/green-\S+\.db into/);
    for (const fn of ['bg_share_freeze 15 ', 'bg_share_copy auto 1 migrations name ', 'bg_share_switch ', 'bg_share_restart 30 0 ', 'bg_share_verify_open ', 'bg_share_verify_old ', 'bg_share_undo '])
      expect(p2).toMatch(new RegExp(`[$;] ${fn}`)); // after the host's `export …; ` when it has one
    expect(env).toContain(`bg_env_set `);
    expect(env).toContain(`'ALLOWED_ORIGINS="x'\\''; rm -rf / #"'`);
    expect(env).toMatch(/bg_pm2_op restart \S+ --update-env/);
    expect(drift).toMatch(/bg_schema_check migrations name blue \S+ green \S+/);
    expect(state()).toBe(before);
  });

  it('drift reports a schema mismatch readably, with exit 1', async () => {
    const r = await runOn('drift');
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('the schemas of blue and green differ');
    expect(r.stderr).toContain('only in green: column time_entries.project #4 TEXT');
    expect(r.stderr).toContain('only in green: migration 002_add_project.sql');
    expect(r.stderr).toMatch(/blue \S+database\.db: sha256:[0-9a-f]{16}/);
  });

  it('phase1 brings both schemas to the same fingerprint, losing no row written meanwhile', async () => {
    const seeded = ids(d.blue.db);
    const w = writer(d.blue.entries, { tag: 'phase1', intervalMs: 2 });
    await w.waitForAcks(5);
    const r = await runOn('phase1');
    const report = await w.stop();
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/prod: 6 steps done/);
    console.log(`phase1 under a writer: ${report.ids.length} writes acknowledged, ${report.failures} refused`);
    for (const db of [d.blue.db, d.green.db]) expect(migrations(db)).toEqual(['001_create_time_entries.sql', '002_add_project.sql', '003_index.sql']);
    expect(columns(d.blue.db)).toEqual(columns(d.green.db));
    const drift = await runOn('drift');
    expect(drift.exitCode, drift.stderr).toBe(0);
    const after = ids(d.blue.db);
    for (const id of [...seeded, ...report.ids]) expect(after.has(id), `row ${id}`).toBe(true);
    expect(report.ids.length).toBeGreaterThan(5);
    expect(report.failures).toBe(0); // migrations add a column and an index while BLUE serves
    const backups = readdirSync(join(root, 'bg-backups')).filter((f) => f.endsWith('.db'));
    expect(backups.map((f) => f.split('-')[0]).sort()).toEqual(['blue', 'green']);
  });

  it('a step failing after a migration restores the backup: schema back, rows intact, app up', async () => {
    const rowsBefore = ids(d.green.db);
    const pidBefore = await d.pid('green');
    const r = await runOn(fixture('playbooks/phases-migrate-fails.yaml'), '--var', `migrations=${fixture('phases/migrations')}`);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('"GREEN reports a status it never has" failed on prod');
    expect(r.stderr).toMatch(/rolled back/);
    expect(columns(d.green.db)).not.toContain('tag');
    expect(migrations(d.green.db)).toHaveLength(3);
    expect(ids(d.green.db)).toEqual(rowsBefore);
    // The migrated database is kept aside, not deleted.
    const aside = readdirSync(d.green.dir).find((f) => f.startsWith('database.db.rolled-back-'));
    expect(aside).toBeDefined();
    expect(columns(join(d.green.dir, aside!))).toContain('tag');
    const h = await d.waitHealthy('green', { timeoutMs: 10_000 });
    expect(h.pid).not.toBe(pidBefore); // stopped for the restore, started again
    expect(h.db).toBe(realpathSync(d.green.db));
  });

  it('env sets the .env line in both envs and the restarted apps see it', async () => {
    const value = 'https://a.example,https://b.example';
    const r = await runOn('env', '--var', 'key=ALLOWED_ORIGINS', '--var', `value=${value}`);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    for (const name of ['blue', 'green'] as EnvName[]) {
      expect(readFileSync(d.env(name).envFile, 'utf8')).toMatch(/^ALLOWED_ORIGINS=https:\/\/a\.example,https:\/\/b\.example$/m);
      const cfg = (await (await fetch(`${d.env(name).url}/api/config`)).json()) as Record<string, unknown>;
      expect(cfg['ALLOWED_ORIGINS']).toBe(value);
    }
  });

  it('phase2 refuses to pick a base when each database holds rows the other lacks; nothing changes', async () => {
    const before = state();
    const pids = [await d.pid('blue'), await d.pid('green')];
    const r = await runOn('phase2');
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('each database holds rows another lacks');
    expect(r.stderr).toMatch(/rows in green that blue lacks: time_entries 5/);
    expect(r.stderr).toContain('--var base=ENV');
    expect(state()).toBe(before);
    expect([await d.pid('blue'), await d.pid('green')]).toEqual(pids);
  });

  it('share-db alone refuses under its write freeze, and its undo starts both apps again', async () => {
    const r = await runOn(fixture('playbooks/phases-share-only.yaml'));
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('share-db will not choose a base');
    for (const name of ['blue', 'green'] as EnvName[]) {
      await d.waitHealthy(name, { timeoutMs: 10_000 });
      expect(lstatSync(d.env(name).db).isFile()).toBe(true);
      expect(existsSync(`${d.env(name).db}.OLD`)).toBe(false);
    }
    expect(existsSync(join(root, 'database-shared.db'))).toBe(false);
  });

  it('phase2 with base=blue moves both envs onto the shared file without losing an acknowledged write', async () => {
    const shared = join(root, 'database-shared.db');
    const blueRows = ids(d.blue.db);
    const w = writer(d.blue.entries, { tag: 'phase2', intervalMs: 2, concurrency: 2 });
    await w.waitForAcks(10);
    const r = await runOn('phase2', '--var', 'base=blue');
    await w.waitForAcks(w.acked.length + 10); // BLUE takes writes again, on the shared file
    const report = await w.stop();
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);

    const gaps = report.acked.slice(1).map((a, i) => a.at - report.acked[i]!.at);
    console.log(`phase2 under a writer: ${report.ids.length} writes acknowledged, ${report.failures} refused (${JSON.stringify(report.failuresByReason)}), longest pause between acknowledgements ${Math.max(...gaps)} ms`);
    const rows = ids(shared);
    for (const id of blueRows) expect(rows.has(id), `row ${id}`).toBe(true);
    const lost = report.ids.filter((id) => !rows.has(id));
    expect(lost, `acknowledged writes missing from the shared database (of ${report.ids.length})`).toEqual([]);
    for (const a of report.acked.slice(-5)) expect(sql(shared, `SELECT description FROM time_entries WHERE id = ${a.id}`)).toBe(a.description);

    for (const name of ['blue', 'green'] as EnvName[]) {
      const e = d.env(name);
      expect(lstatSync(e.db).isSymbolicLink()).toBe(true);
      expect(readlinkSync(e.db)).toBe(realpathSync(shared));
      expect(lstatSync(`${e.db}.OLD`).isFile()).toBe(true);
      const h = await d.waitHealthy(name, { timeoutMs: 10_000 });
      expect(h.db).toBe(realpathSync(shared));
      expect(holds(h.pid, shared)).toBe(true);
      expect(holds(h.pid, `${e.db}.OLD`)).toBe(false);
    }
    // GREEN's own rows were not carried over (base=blue); they stay in its .OLD file.
    expect(ids(`${d.green.db}.OLD`).size).toBe(5);
  });

  it('bg rollback puts each env back on its own database and keeps the shared one aside', async () => {
    const shared = join(root, 'database-shared.db');
    const refused = await run(['rollback', '--host', 'prod']);
    expect(refused.exitCode).toBe(2);
    expect(refused.stdout).toMatch(/rows written to \S+database-shared\.db while the envs shared it/);
    const r = await run(['rollback', '--host', 'prod', '--accept-data-loss']);
    expect(r.exitCode, r.stderr).toBe(0);
    for (const name of ['blue', 'green'] as EnvName[]) {
      const e = d.env(name);
      expect(lstatSync(e.db).isFile()).toBe(true);
      expect(existsSync(`${e.db}.OLD`)).toBe(false);
      const h = await d.waitHealthy(name, { timeoutMs: 10_000 });
      expect(h.db).toBe(realpathSync(e.db));
    }
    expect(existsSync(shared)).toBe(false);
    expect(readdirSync(root).some((f) => f.startsWith('database-shared.db.rolled-back-'))).toBe(true);
  });
});
