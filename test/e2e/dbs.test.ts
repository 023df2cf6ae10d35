/**
 * Several databases per env (`dbs:`, issue 17 item 1) through the built CLI, over the suite's
 * OpenSSH sshd, against the example app as BLUE and GREEN under a real pm2, each env with THREE SQLite files
 * (the app's database.db, cache.db, userdata.db). In order:
 *   a backup run backs up all three (three verified files, named ENV-RUNID.db, ENV-RUNID.cache.db,
 *   ENV-RUNID.userdata.db), copies each to this machine (copy_to); bg backups and bg status show
 *   them → a run that migrates all three, then fails, is rolled back: every database is back to its
 *   exact fingerprint and row counts (read with sqlite3 here, not with bg), the app stopped once →
 *   the same migration run that succeeds leaves BLUE's databases different from GREEN's: the drift
 *   playbook names each (db-inspect reports per name too) → bg restore of that run's backups puts
 *   all three back, and bg rollback undoes the restore → bg rollback of a migration lists the rows
 *   each database would lose, then restores all three.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bg } from '../harness/cli.js';
import { deployBlueGreen, inventoryDocument, type BlueGreen } from '../harness/pm2.js';
import { sshClientEnv, startSshd, type SshdHandle } from '../harness/sshd.js';

const sql = (db: string, query: string) => execFileSync('sqlite3', ['-batch', '-cmd', '.timeout 5000', db, query], { encoding: 'utf8' }).trim();
const NAMES = ['database.db', 'cache.db', 'userdata.db'] as const;

/** What a database holds, read with sqlite3 directly: its schema and every row (sha256), and rows per table. */
function fingerprint(db: string): { schema: string; dump: string; rows: Record<string, number> } {
  const tables = sql(db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").split('\n').filter(Boolean);
  const rows = Object.fromEntries(tables.map((t) => [t, Number(sql(db, `SELECT count(*) FROM "${t}"`))]));
  const h = (s: string) => createHash('sha256').update(s).digest('hex');
  return { schema: h(sql(db, '.schema')), dump: h(sql(db, '.dump')), rows };
}

let root = '';
let d: BlueGreen;
let sshd: SshdHandle;
// Only what reaches the test sshd: the inventory gives the host its PATH and PM2_HOME.
const run = (args: string[]) => bg(['--inventory', join(root, 'hosts.yaml'), ...args], { cwd: root, env: sshClientEnv(sshd.knownHostsPath), timeoutMs: 120_000 });
const blueFiles = () => NAMES.map((n) => join(d.blue.dir, n));
const fingerprints = () => blueFiles().map(fingerprint);
/** Everything the host printed in a --json run's command events (undo output included). */
const printed = (stdout: string) =>
  stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { type: string; stdout?: string }).filter((e) => e.type === 'command').map((e) => e.stdout ?? '').join('\n');

// Changes all three databases of the env it runs in: a column in the app's database, a table in
// cache.db, rows in userdata.db.
const migrate = (column: string) => [
  `sqlite3 database.db "ALTER TABLE time_entries ADD COLUMN ${column} TEXT"`,
  `sqlite3 cache.db "CREATE TABLE IF NOT EXISTS warm (k TEXT); INSERT INTO warm VALUES ('x')"`,
  `sqlite3 userdata.db "INSERT INTO prefs VALUES ('theme', 'dark'), ('lang', 'de')"`,
].join(' && ');

function playbook(name: string, fail: boolean, column = 'tag'): string {
  const file = join(root, `${name}.yaml`);
  writeFileSync(
    file,
    `name: ${name}
steps:
  - { name: Back up BLUE, action: backup, env: blue }
  - name: Migrate BLUE
    action: migrate
    env: blue
    with: { command: ${JSON.stringify(migrate(column))}, pending: "true", lint: false }
${fail ? `  - name: Something later fails
    action: shell
    env: blue
    with: { command: "test -f {{ env.dbs.userdata }} && false", undo: "true" }
` : ''}`,
  );
  return file;
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'bgdbs-'));
  [sshd, d] = await Promise.all([startSshd({ user: 'root' }), deployBlueGreen({ root, seed: { blue: 5, green: 2 } })]);
  for (const env of [d.blue, d.green]) {
    sql(join(env.dir, 'cache.db'), "CREATE TABLE entries (k TEXT PRIMARY KEY, v BLOB); INSERT INTO entries VALUES ('a', x'00ff'), ('b', NULL)");
    sql(join(env.dir, 'userdata.db'), "PRAGMA journal_mode=WAL; CREATE TABLE prefs (k TEXT, v TEXT); INSERT INTO prefs VALUES ('tz', 'UTC')");
  }
  const dbs = { main: 'database.db', cache: 'cache.db', userdata: 'userdata.db' };
  writeFileSync(
    join(root, 'hosts.yaml'),
    inventoryDocument(d.inventoryYaml('prod', { ssh: { host: '127.0.0.1', port: sshd.port, user: sshd.user, key: sshd.clientKeyPath }, path: [d.binDir], environment: { PM2_HOME: d.pm2Home }, journal: join(root, 'journal'), backups: { dir: join(root, 'bk'), keep: 5 }, envs: { blue: { db: null, dbs }, green: { db: null, dbs } } })),
  );
}, 180_000);

afterAll(async () => {
  await d?.stop();
  await sshd?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
}, 60_000);

describe('dbs: three databases per env, against real pm2 apps and SQLite files', () => {
  it('a backup step backs up every database of the env, each verified, under its own name', async () => {
    const file = join(root, 'backup-only.yaml');
    writeFileSync(file, `name: backup-only\nsteps:\n  - { name: Back up BLUE, action: backup, env: blue, with: { copy_to: ${JSON.stringify(join(root, 'copies'))} } }\n`);
    const b = await run(['run', file, '--host', 'prod', '--json']);
    expect(b.exitCode, b.stderr).toBe(0);
    const runId = (JSON.parse(b.stdout.split('\n')[0]!) as { runId: string }).runId;
    const mine = readdirSync(join(root, 'bk')).filter((f) => f.includes(runId) && f.endsWith('.db')).sort();
    expect(mine).toEqual([`blue-${runId}.cache.db`, `blue-${runId}.db`, `blue-${runId}.userdata.db`]);
    for (const [i, f] of [`blue-${runId}.db`, `blue-${runId}.cache.db`, `blue-${runId}.userdata.db`].entries()) {
      expect(sql(join(root, 'bk', f), 'PRAGMA integrity_check')).toBe('ok');
      expect(fingerprint(join(root, 'bk', f)).rows).toEqual(fingerprint(blueFiles()[i]!).rows);
      // copy_to: each backup copied to this machine, byte for byte, its sha256 beside it.
      const copy = join(root, 'copies', 'prod', f);
      expect(readFileSync(copy).equals(readFileSync(join(root, 'bk', f)))).toBe(true);
      expect(readFileSync(`${copy}.sha256`, 'utf8')).toBe(`${createHash('sha256').update(readFileSync(copy)).digest('hex')}  ${f}\n`);
    }
    // bg backups lists the other databases' backups under their env; bg status shows every database.
    const list = await run(['backups', '--host', 'prod', '--json', '--copy-to', join(root, 'copies')]);
    const listed = (JSON.parse(list.stdout) as Array<{ env: string; run: string; db?: string; copies: unknown[] }>).filter((e) => e.run === runId);
    expect(listed.map((e) => [e.db ?? '', e.copies.length])).toEqual([['', 1], ['cache', 1], ['userdata', 1]]);
    const status = await run(['status', '--host', 'prod']);
    expect(status.exitCode, status.stderr).toBe(0);
    expect(status.stdout).toContain(`db main ${d.blue.db}`);
    expect(status.stdout).toMatch(new RegExp(`db cache ${join(d.blue.dir, 'cache.db')}, [0-9.]+ MB, quick_check ok`));
    expect(status.stdout).toMatch(new RegExp(`db userdata ${join(d.green.dir, 'userdata.db')}, [0-9.]+ MB, quick_check ok`));
    // --json: each other database as an object, not a line of text.
    const json = JSON.parse((await run(['status', '--host', 'prod', '--json'])).stdout) as Array<{ envs: Record<string, { dbs: Array<{ name: string; path: string; size: number | null; quickCheck: string | null }> }> }>;
    expect(json[0]!.envs['blue']!.dbs.map((x) => [x.name, x.path, x.quickCheck, typeof x.size])).toEqual([
      ['cache', join(d.blue.dir, 'cache.db'), 'ok', 'number'],
      ['userdata', join(d.blue.dir, 'userdata.db'), 'ok', 'number'],
    ]);
  });

  it('a run that migrates all three and then fails is rolled back: all three databases exactly as before, the app stopped once', async () => {
    const before = fingerprints();
    const pid = await d.pid('blue');
    const r = await run(['run', playbook('migrate-fails', true), '--host', 'prod', '--json']);
    expect(r.exitCode, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(/"outcome":"rolled-back"/);
    expect(fingerprints()).toEqual(before);
    for (const f of blueFiles()) expect(sql(f, 'PRAGMA integrity_check')).toBe('ok');
    // One stop and one start around the three restores.
    const out = printed(r.stdout);
    expect((out.match(/stopped timetracking-server/g) ?? []).length, out).toBe(1);
    expect((out.match(/started timetracking-server/g) ?? []).length).toBe(1);
    expect((out.match(/restored .* from /g) ?? []).length).toBe(3);
    const health = await d.waitHealthy('blue');
    expect(health.pid).not.toBe(pid);
  });

  it("schema-check compares per database name and names the one that differs; bg restore puts a run's three backups back", async () => {
    const before = fingerprints();
    const m = await run(['run', playbook('migrate-ok', false), '--host', 'prod', '--json']);
    expect(m.exitCode, m.stderr).toBe(0);
    const runId = (JSON.parse(m.stdout.split('\n')[0]!) as { runId: string }).runId;
    const migrated = fingerprints();
    expect(migrated).not.toEqual(before);

    const drift = await run(['run', 'drift', '--host', 'prod', '--ci']);
    expect(drift.exitCode).toBe(1);
    expect(drift.stdout + drift.stderr).toMatch(/blue\.cache/);
    expect(drift.stdout + drift.stderr).toMatch(/same schema and migrations: blue\.main, green\.main/);

    const inspect = join(root, 'inspect.yaml');
    writeFileSync(inspect, 'name: inspect\nsteps:\n  - { name: Inspect, action: db-inspect, with: { envs: [blue, green], base: blue } }\n');
    const i = await run(['run', inspect, '--host', 'prod', '--json']);
    for (const label of ['blue.main', 'green.main', 'blue.cache', 'green.cache', 'blue.userdata', 'green.userdata']) expect(printed(i.stdout)).toContain(label);
    const dry = await run(['restore', '--host', 'prod', '--env', 'blue', '--backup', runId, '--dry-run']);
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(fingerprints().map((f) => f.dump)).not.toEqual(before.map((f) => f.dump));
    // userdata.db holds two rows the backup lacks: named before the run (exit 2), nothing changed.
    const migratedNow = fingerprints();
    const refused = await run(['restore', '--host', 'prod', '--env', 'blue', '--backup', runId]);
    expect(refused.exitCode, refused.stdout + refused.stderr).toBe(2);
    expect(refused.stderr).toMatch(new RegExp(`restoring .*blue-${runId.replace(/\./g, '\\.')}\\.userdata\\.db discards rows of blue written after it: prefs 2 rows`));
    expect(fingerprints()).toEqual(migratedNow);
    const r = await run(['restore', '--host', 'prod', '--env', 'blue', '--backup', runId, '--accept-data-loss', '--json']);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(fingerprints()).toEqual(before);
    const out = printed(r.stdout);
    expect((out.match(/stopped timetracking-server/g) ?? []).length, out).toBe(1);
    expect((out.match(/restored .* from /g) ?? []).length).toBe(3);
    // Its undo puts the three databases back as they were before the restore, the app stopped once.
    const back = await run(['rollback', '--host', 'prod', '--json']);
    expect(back.exitCode, back.stdout + back.stderr).toBe(0);
    expect(fingerprints()).toEqual(migrated);
    expect((printed(back.stdout).match(/stopped timetracking-server/g) ?? []).length).toBe(1);
  });

  it("bg rollback of a migration names the rows every database would lose, and with --accept-data-loss restores all three", async () => {
    const before = fingerprints();
    const m = await run(['run', playbook('migrate-again', false, 'tag2'), '--host', 'prod', '--json']);
    expect(m.exitCode, m.stderr).toBe(0);
    // Written after the backup, as the app would: in two of the databases.
    sql(join(d.blue.dir, 'cache.db'), "INSERT INTO entries VALUES ('late', NULL)");
    sql(join(d.blue.dir, 'userdata.db'), "INSERT INTO prefs VALUES ('late', 'x')");
    const refused = await run(['rollback', '--host', 'prod']);
    expect(refused.exitCode).toBe(2);
    expect(refused.stdout + refused.stderr).toMatch(/blue\.cache: rows written to .*cache\.db .*entries 1 rows/);
    expect(refused.stdout + refused.stderr, refused.stdout + refused.stderr).toMatch(/blue\.userdata: rows written to .*userdata\.db .*prefs 1 rows/);
    const back = await run(['rollback', '--host', 'prod', '--accept-data-loss']);
    expect(back.exitCode, back.stdout + back.stderr).toBe(0);
    expect(fingerprints()).toEqual(before);
  });
});

describe('share-db with dbs: each database name onto its own shared file, against real pm2 apps', () => {
  let root2 = '';
  let d2: BlueGreen;
  const run2 = (args: string[]) => bg(['--inventory', join(root2, 'hosts.yaml'), ...args], { cwd: root2, env: sshClientEnv(sshd.knownHostsPath), timeoutMs: 120_000 });
  const files = () => (['blue', 'green'] as const).flatMap((e) => NAMES.map((n) => join(d2[e].dir, n)));
  const shareds = () => ['shared.db', 'shared.cache.db', 'shared.userdata.db'].map((f) => join(root2, f));

  beforeAll(async () => {
    root2 = mkdtempSync(join(tmpdir(), 'bgdbs2-'));
    // GREEN holds no rows of its own: BLUE's databases are the base of each shared file.
    d2 = await deployBlueGreen({ root: root2, seed: { blue: 3 } });
    for (const env of [d2.blue, d2.green]) {
      const rows = env === d2.blue;
      sql(join(env.dir, 'cache.db'), `CREATE TABLE entries (k TEXT PRIMARY KEY, v BLOB);${rows ? " INSERT INTO entries VALUES ('a', x'00ff')" : ''}`);
      sql(join(env.dir, 'userdata.db'), `PRAGMA journal_mode=WAL; CREATE TABLE prefs (k TEXT, v TEXT);${rows ? " INSERT INTO prefs VALUES ('tz', 'UTC')" : ''}`);
    }
    const dbs = { main: 'database.db', cache: 'cache.db', userdata: 'userdata.db' };
    writeFileSync(
      join(root2, 'hosts.yaml'),
      inventoryDocument(d2.inventoryYaml('prod', { ssh: { host: '127.0.0.1', port: sshd.port, user: sshd.user, key: sshd.clientKeyPath }, path: [d2.binDir], environment: { PM2_HOME: d2.pm2Home }, journal: join(root2, 'journal'), backups: { dir: join(root2, 'bk') }, shared_db: join(root2, 'shared.db'), envs: { blue: { db: null, dbs }, green: { db: null, dbs } } })),
    );
  }, 180_000);

  afterAll(async () => {
    await d2?.stop();
    if (root2) rmSync(root2, { recursive: true, force: true });
  }, 60_000);

  it('a failing run after share-db is rolled back: every database its own file again, exactly as before; then share-db and bg rollback', async () => {
    const before = files().map(fingerprint);
    const pb = (fail: boolean) => {
      const file = join(root2, `share-${fail}.yaml`);
      writeFileSync(file, `name: share\nsteps:\n  - { name: Share, action: share-db, with: { envs: [blue, green] } }\n${fail ? '  - { name: Fails, action: shell, with: { command: "false", undo: "true" } }\n' : ''}`);
      return file;
    };
    const failed = await run2(['run', pb(true), '--host', 'prod', '--json']);
    expect(failed.exitCode, failed.stdout + failed.stderr).toBe(1);
    expect(files().map(fingerprint)).toEqual(before);
    for (const f of files()) expect(execFileSync('readlink', ['-f', f], { encoding: 'utf8' }).trim()).toBe(f);
    const out = printed(failed.stdout);
    // The undo: apps started once, at the end.
    expect((out.match(/blue: timetracking-server online/g) ?? []).length, out).toBe(1);

    const ok = await run2(['run', pb(false), '--host', 'prod', '--json']);
    expect(ok.exitCode, ok.stdout + ok.stderr).toBe(0);
    const [main, cache, userdata] = shareds();
    for (const e of ['blue', 'green'] as const) {
      expect(execFileSync('readlink', ['-f', join(d2[e].dir, 'database.db')], { encoding: 'utf8' }).trim()).toBe(main);
      expect(execFileSync('readlink', ['-f', join(d2[e].dir, 'cache.db')], { encoding: 'utf8' }).trim()).toBe(cache);
      expect(execFileSync('readlink', ['-f', join(d2[e].dir, 'userdata.db')], { encoding: 'utf8' }).trim()).toBe(userdata);
    }
    // Each shared file holds BLUE's rows of that database.
    expect(shareds().map((f) => fingerprint(f).rows)).toEqual(before.slice(0, 3).map((f) => f.rows));
    expect((await d2.health('green')).body.db).toBe(main);

    const back = await run2(['rollback', '--host', 'prod', '--accept-data-loss']);
    expect(back.exitCode, back.stdout + back.stderr).toBe(0);
    expect(files().map(fingerprint)).toEqual(before);
    for (const f of files()) expect(execFileSync('readlink', ['-f', f], { encoding: 'utf8' }).trim()).toBe(f);
  });
});
