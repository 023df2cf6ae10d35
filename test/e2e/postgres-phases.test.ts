/**
 * The built-in phases on PostgreSQL, for real and over SSH: the suite's own PostgreSQL cluster
 * (test/harness/postgres.ts), the example app as BLUE and GREEN on it (PG* variables in their .env,
 * application_name bg-blue / bg-green, migrations-pg/) under a real pm2, Debian's HAProxy in front,
 * bg reaching the host through the suite's OpenSSH sshd, a keep-alive load client writing to the live
 * port. In order on one deployment:
 *
 *   phase1 under load (backup both, migrate GREEN, health, migrate BLUE, health): 0 failed requests,
 *   every acknowledged write kept, the new column in both → a phase1 whose BLUE migration fails
 *   half-way (its first migration committed) is rolled back: both databases' schemas and rows exactly
 *   as before, read with psql → share-db refused by a session left open → phase2 under load: 0 failed
 *   requests, every acknowledged write in the shared database, pg_stat_activity shows both envs on it
 *   only → a later backup of the old database is refused (the env file and the inventory disagree) →
 *   bg rollback refused without --accept-data-loss, then under load with it: both envs back on their
 *   own databases, the shared one kept renamed, 0 failed, no acknowledged write lost.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bg } from '../harness/cli.js';
import { deployBlueGreen, freePort, inventoryDocument, type BlueGreen } from '../harness/pm2.js';
import { startLoad, type LoadReport } from '../harness/load-client.js';
import { haproxyProxy, startHaproxy } from '../harness/haproxy.js';
import { startPgCluster, type PgCluster } from '../harness/postgres.js';
import { sshClientEnv, startSshd, type SshdHandle } from '../harness/sshd.js';

let root = '';
let d: BlueGreen;
let pg: PgCluster;
let livePort = 0;
let sshd: SshdHandle;
// Only what reaches the test sshd, and the password bg reads from its own environment (a secret var).
const run = (args: string[]) => bg(['--inventory', join(root, 'hosts.yaml'), ...args], { cwd: root, env: { ...sshClientEnv(sshd.knownHostsPath), BG_TEST_PGPW: pg.password }, timeoutMs: 180_000 });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const lines = (s: string) => s.split('\n').filter((l) => l !== '');

/** Acknowledged writes whose description is in none of these databases. */
async function missing(r: LoadReport, ...dbs: string[]): Promise<number> {
  const have = new Set<string>();
  for (const db of dbs) for (const l of lines(await pg.psql(db, "SELECT description FROM time_entries WHERE description LIKE 'load-%';"))) have.add(l);
  return r.acked.filter((a) => !have.has(a.description)).length;
}

/** Which databases each env's application (bg-blue, bg-green) is connected to, as PostgreSQL sees it. */
async function connections(): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const l of lines(await pg.psql('postgres', "SELECT DISTINCT application_name || ' ' || datname FROM pg_stat_activity WHERE application_name IN ('bg-blue', 'bg-green') ORDER BY 1;"))) {
    const [app, db] = l.split(' ') as [string, string];
    (out[app] ??= []).push(db);
  }
  return out;
}

async function underLoad(args: string[]): Promise<{ r: Awaited<ReturnType<typeof run>>; load: LoadReport }> {
  const load = startLoad({ baseUrl: `http://127.0.0.1:${livePort}`, clients: 8, maxDurationMs: 90_000 });
  await sleep(300);
  const r = await run(args);
  await sleep(300);
  return { r, load: await load.stop() };
}

beforeAll(async () => {
  pg = await startPgCluster();
  for (const db of ['app_blue', 'app_green']) await pg.createDatabase(db);
  root = mkdtempSync(join(tmpdir(), 'bgps-'));
  // BLUE holds rows GREEN lacks (GREEN has none): BLUE is the base.
  [sshd, d] = await Promise.all([startSshd({ user: 'root' }), deployBlueGreen({ root, seed: { blue: 5, green: 0 }, dotenv: { blue: pg.clientEnv('app_blue'), green: pg.clientEnv('app_green') } })]);
  livePort = await freePort();
  let previewPort = await freePort();
  while (previewPort === livePort) previewPort = await freePort();
  writeFileSync(
    join(root, 'hosts.yaml'),
    inventoryDocument(
      d.inventoryYaml('prod', {
        ssh: { host: '127.0.0.1', port: sshd.port, user: sshd.user, key: sshd.clientKeyPath },
        path: [d.binDir],
        environment: { PM2_HOME: d.pm2Home },
        journal: join(root, 'journal'),
        vars: { pgpw: { env: 'BG_TEST_PGPW', secret: true } },
        // The example app's migrator reads the PG* variables bg exports to it; its SQL is in migrations-pg/.
        envs: { blue: { db: pg.inventoryDb('app_blue'), migrate: 'node migrate.js', migrations_dir: 'migrations-pg' }, green: { db: pg.inventoryDb('app_green'), migrate: 'node migrate.js', migrations_dir: 'migrations-pg' } },
        shared_db: { postgres: { database: 'app_shared' } },
        proxy: haproxyProxy(join(root, 'proxy'), livePort, previewPort),
      }),
    ),
  );
  writeFileSync(join(root, 'short-release.yaml'), 'name: short-release\nsteps:\n  - { name: share, action: share-db, with: { envs: [blue, green], release_timeout: 2s } }\n');
  writeFileSync(join(root, 'backup.yaml'), 'name: pg-backup\nsteps:\n  - { name: back up blue, action: backup, env: blue, with: { copy_to: false } }\n');
  const p = await run(['run', 'proxy', '--host', 'prod']);
  if (p.exitCode !== 0) throw new Error(p.stderr);
  await startHaproxy(d, join(root, 'proxy'));
}, 180_000);

afterAll(async () => {
  await d?.stop();
  await sshd?.stop();
  await pg?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
});

/** Each table's columns and every row (as text, sorted), read with psql: what "exactly as before" compares. */
async function contents(db: string): Promise<string> {
  const cols = await pg.psql(db, "SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1;");
  const tables = lines(await pg.psql(db, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1;"));
  let rows = '';
  for (const t of tables) rows += `${t}: ${await pg.psql(db, `SELECT md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), '')) || ' ' || count(*) FROM public."${t}" x;`)}`;
  return cols + rows;
}

/** A migration file in both envs' migrations-pg/ (or one env's). */
function addMigration(name: string, sql: string, envs: Array<'blue' | 'green'> = ['blue', 'green']): void {
  for (const e of envs) writeFileSync(join(d.env(e).dir, 'migrations-pg', name), sql);
}

describe('share-db on PostgreSQL behind HAProxy', () => {
  it('the example app runs on PostgreSQL with its env as application_name', async () => {
    expect((await d.health('blue')).body).toMatchObject({ status: 'ok', env: 'blue', db: 'postgres:app_blue', migrations: 3 });
    expect(await connections()).toEqual({ 'bg-blue': ['app_blue'], 'bg-green': ['app_green'] });
    expect(lines(await pg.psql('app_blue', 'SELECT count(*) FROM time_entries;'))).toEqual(['5']);
    // migrate.js on PostgreSQL (migrations-pg/): nothing pending, all three applied.
    expect((await d.migrate('green', { args: ['--pending'] })).stdout).toBe('');
    expect((await d.migrate('green', { args: ['--status'] })).stdout).toMatch(/^Database: PostgreSQL \(PGDATABASE=app_green\)\n[\s\S]*3 applied, 0 pending$/);
    expect((await d.migrate('green')).stdout).toBe('No pending migrations');
  });

  it('phase1 under load over SSH: both databases migrated, 0 failed requests, every acknowledged write kept', async () => {
    addMigration('004_add_note.sql', 'ALTER TABLE time_entries ADD COLUMN note text;\n');
    const { r, load } = await underLoad(['run', 'phase1', '--host', 'prod', '--ci']);
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(load.failed, JSON.stringify(load.failures)).toBe(0);
    expect(load.acked.length).toBeGreaterThan(0);
    expect(await missing(load, 'app_blue', 'app_green')).toBe(0);
    for (const db of ['app_blue', 'app_green']) expect(lines(await pg.psql(db, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'time_entries' AND column_name = 'note';"))).toEqual(['1']);
    // Each env's dump was taken in one snapshot while the load wrote, and verified by a scratch restore.
    expect(r.stdout).toMatch(/one snapshot/);
    console.log(`[pg phase1] ${load.sent} requests, ${load.failed} failed, p50/p99/max ${load.p50Ms}/${load.p99Ms}/${load.maxMs} ms`);
  });

  it("phase1 whose BLUE migration fails half-way is rolled back: both databases' schemas and rows exactly as before (psql)", async () => {
    const before = { blue: await contents('app_blue'), green: await contents('app_green') };
    // 005 commits (a table and a row); BLUE also has 006, which fails: BLUE is left half-migrated.
    addMigration('005_tags.sql', "CREATE TABLE tags (id serial PRIMARY KEY, name text NOT NULL);\nINSERT INTO tags (name) VALUES ('first');\n");
    addMigration('006_broken.sql', 'SELECT 1 / 0;\n', ['blue']);
    try {
      const r = await run(['run', 'phase1', '--host', 'prod', '--ci']);
      expect(r.exitCode, r.stderr + r.stdout).toBe(1);
      expect(r.stderr + r.stdout).toMatch(/division by zero/);
      expect(r.stderr + r.stdout).toMatch(/rolled back/);
    } finally {
      for (const e of ['blue', 'green'] as const) for (const f of ['005_tags.sql', '006_broken.sql']) rmSync(join(d.env(e).dir, 'migrations-pg', f), { force: true });
    }
    expect(await contents('app_blue')).toBe(before.blue);
    expect(await contents('app_green')).toBe(before.green);
    await d.waitHealthy('blue');
    await d.waitHealthy('green');
    expect(await connections()).toEqual({ 'bg-blue': ['app_blue'], 'bg-green': ['app_green'] });
  });

  it('a session someone left on an env database stops the freeze: the run is undone, both envs on their own databases', async () => {
    const held = pg.psql('app_blue', "SET application_name = 'someone'; SELECT pg_sleep(60);").catch(() => '');
    try {
      for (let i = 0; i < 50 && lines(await pg.psql('postgres', "SELECT 1 FROM pg_stat_activity WHERE application_name = 'someone';")).length === 0; i++) await sleep(100);
      const r = await run(['run', join(root, 'short-release.yaml'), '--host', 'prod']);
      expect(r.exitCode, r.stderr + r.stdout).toBe(1);
      expect(r.stderr).toMatch(/connections still open 2 s after the apps stopped \(database application pid\): app_blue someone \d+/);
      expect(r.stdout + r.stderr).toMatch(/each env on its own database again/);
    } finally {
      await pg.psql('postgres', "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'someone';");
      await held;
    }
    expect(lines(await pg.psql('postgres', "SELECT datname FROM pg_database WHERE datname LIKE 'app_shared%';"))).toEqual([]);
    await d.waitHealthy('blue');
    await d.waitHealthy('green');
    expect(await connections()).toEqual({ 'bg-blue': ['app_blue'], 'bg-green': ['app_green'] });
  });

  it('moves both envs onto one database under load: 0 failed requests, every acknowledged write in it, PostgreSQL shows both envs there only', async () => {
    const { r, load } = await underLoad(['run', 'phase2', '--host', 'prod', '--ci']);
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(/made app_shared from blue \(app_blue: it holds every row of the others\) with CREATE DATABASE \.\.\. TEMPLATE/);
    expect(r.stdout).toMatch(/writes were frozen for \d+ ms .* within the proxy's hold window/);
    expect(r.stdout).toMatch(/green: bg-green holds \d+ connection\(s\), all on app_shared/);
    expect(load.failed, JSON.stringify(load.failures)).toBe(0);
    expect(load.acked.length).toBeGreaterThan(0);
    expect(await missing(load, 'app_shared')).toBe(0);
    expect(await connections()).toEqual({ 'bg-blue': ['app_shared'], 'bg-green': ['app_shared'] });
    expect(readFileSync(d.green.envFile, 'utf8')).toMatch(/^PGDATABASE=app_shared$/m);
    expect((await d.health('green')).body).toMatchObject({ status: 'ok', db: 'postgres:app_shared' });
    console.log(`[pg share-db] ${load.sent} requests, ${load.failed} failed, p50/p99/max ${load.p50Ms}/${load.p99Ms}/${load.maxMs} ms; ${r.stdout.match(/writes were frozen.*$/m)?.[0]}`);
  });

  it('refuses a backup of the old database while the app uses the shared one', async () => {
    const r = await run(['run', join(root, 'backup.yaml'), '--host', 'prod']);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/sets PGDATABASE=app_shared but the inventory says database app_blue/);
  });

  it('bg rollback under load: each env on its own database again, the shared one kept renamed, no acknowledged write lost', async () => {
    // Rows were written to the shared database meanwhile: as on SQLite, undoing would leave them only in
    // the kept copy, so bg rollback says which and changes nothing without --accept-data-loss.
    const refused = await run(['rollback', '--host', 'prod']);
    expect(refused.exitCode, refused.stderr).toBe(2);
    expect(refused.stdout + refused.stderr).toMatch(/rows written to app_shared while the envs shared it, not in blue's own database: public\.time_entries \d+/);
    expect(await connections()).toEqual({ 'bg-blue': ['app_shared'], 'bg-green': ['app_shared'] });
    const { r, load } = await underLoad(['rollback', '--host', 'prod', '--accept-data-loss']);
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    const kept = lines(await pg.psql('postgres', "SELECT datname FROM pg_database WHERE datname LIKE 'app_shared%';"));
    expect(kept).toHaveLength(1);
    expect(kept[0]).toMatch(/^app_shared_rolled_back_\d+$/);
    expect(r.stdout + r.stderr).toContain(`each env on its own database again; the shared database is kept as ${kept[0]}`);
    expect(await connections()).toEqual({ 'bg-blue': ['app_blue'], 'bg-green': ['app_green'] });
    expect(readFileSync(d.green.envFile, 'utf8')).toMatch(/^PGDATABASE=app_green$/m);
    expect(load.failed, JSON.stringify(load.failures)).toBe(0);
    // Acknowledged before the undo stopped the apps: in the kept database; after: in BLUE's own.
    expect(await missing(load, kept[0]!, 'app_blue')).toBe(0);
    console.log(`[pg share-db rollback] ${load.sent} requests, ${load.failed} failed, max ${load.maxMs} ms`);
  });
});
