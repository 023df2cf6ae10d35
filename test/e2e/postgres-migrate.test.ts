import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bg } from '../harness/cli.js';
import { library } from '../../src/remote/library.js';
import { ensureExampleApp, findExampleApp } from '../harness/pm2.js';
import { startPgCluster, type PgCluster } from '../harness/postgres.js';

// migrate with undo, bg rollback and bg restore on a real PostgreSQL cluster of the suite's own, with
// an app under a real pm2 that holds a session (application_name = its pm2 name); bg runs here (local: true).
let pg: PgCluster;
let work: string;
let health: Server;
const pm2Home = () => join(work, '.pm2');
const env = () => ({ BG_TEST_PGPW: pg.password, PM2_HOME: pm2Home() });
const run = (args: string[]) => bg(['--inventory', join(work, 'hosts.yaml'), ...args], { cwd: work, env: env(), timeoutMs: 60_000 });
const blue = () => join(work, 'blue');

const SCHEMA = `
CREATE TABLE migrations (name text PRIMARY KEY);
CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL UNIQUE);
CREATE TABLE posts (id bigserial PRIMARY KEY, user_id int REFERENCES users(id), body text);
CREATE INDEX posts_user ON posts (user_id);
INSERT INTO migrations VALUES ('001_init');
INSERT INTO users (email) SELECT 'u' || g || '@x' FROM generate_series(1, 20) g;
INSERT INTO posts (user_id, body) SELECT 1 + g % 20, 'p' || g FROM generate_series(1, 60) g;
`;

// The app's migrator: applies each pending file with psql, reading the connection from the PG*
// variables bg exports (no connection settings of its own); a file's statements autocommit one by one.
const MIGRATOR = `#!/bin/sh
set -e
for f in $(ls migrations/*.sql | sort); do
  n=$(basename "$f" .sql)
  if [ -z "$(printf '%s\\n' "SELECT 1 FROM migrations WHERE name = :'n'" | psql -X -A -t -q -v n="$n")" ]; then
    psql -X -q -v ON_ERROR_STOP=1 -f "$f"
    printf '%s\\n' "INSERT INTO migrations VALUES (:'n')" | psql -X -q -v n="$n"
    echo "applied $n"; did=1
  fi
done
[ -n "\${did:-}" ] || echo "no pending migrations"
`;

/** What the database holds, read by psql directly (not by bg's code): columns, constraints, indexes, rows, sequences. */
async function state(db = 'app_m'): Promise<string> {
  return pg.psql(
    db,
    `SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2;
     SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1;
     SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1;
     SELECT relname, relkind FROM pg_class WHERE relnamespace = 'public'::regnamespace ORDER BY 1;
     SELECT 'users', id, email FROM users ORDER BY id;
     SELECT 'posts', id, user_id, body FROM posts ORDER BY id;
     SELECT 'migrations', name FROM migrations ORDER BY name;
     SELECT 'seq', last_value, is_called FROM users_id_seq;`,
  );
}

const pm2Dir = () => join(findExampleApp(), 'node_modules', '.bin');
const pm2 = (...args: string[]) => execa(join(pm2Dir(), 'pm2'), args, { env: { PM2_HOME: pm2Home(), PGHOST: pg.host, PGPORT: String(pg.port), PGUSER: pg.user, PGPASSWORD: pg.password, PGDATABASE: 'app_m', PGAPPNAME: 'pgapp' }, reject: false });
const appSessions = async () => Number((await pg.psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgapp'")).trim());
const migration = (name: string, sql: string) => writeFileSync(join(blue(), 'migrations', name), sql);
const lastRun = (text: string) => /run (\d{8}T[0-9.]+Z-[0-9A-Za-z]+)/.exec(text)?.[1];

beforeAll(async () => {
  await ensureExampleApp();
  // The env's health check (bg restore's playbook checks it): a plain HTTP 200 from this process.
  health = createServer((_q, res) => res.end('ok'));
  await new Promise<void>((r) => health.listen(0, '127.0.0.1', r));
  const healthPort = (health.address() as { port: number }).port;
  pg = await startPgCluster();
  work = mkdtempSync(join(tmpdir(), 'bg-pgm-'));
  await pg.createDatabase('app_m');
  await pg.psql('app_m', `SET ROLE bg;\n${SCHEMA}`);
  mkdirSync(join(blue(), 'migrations'), { recursive: true });
  writeFileSync(join(blue(), 'migrate.sh'), MIGRATOR, { mode: 0o755 });
  migration('001_init.sql', '-- applied before bg\nCREATE TABLE migrations (name text PRIMARY KEY);\nCREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL UNIQUE);\nCREATE TABLE posts (id bigserial PRIMARY KEY, user_id int REFERENCES users(id), body text);\nCREATE INDEX posts_user ON posts (user_id);\n');
  // The app: one long-lived session named after its pm2 name, as an app's pool would hold.
  writeFileSync(join(blue(), 'app.sh'), '#!/bin/sh\nwhile :; do sleep 1; done | psql -X -q\n', { mode: 0o755 });
  expect((await pm2('start', join(blue(), 'app.sh'), '--name', 'pgapp', '--interpreter', 'sh')).exitCode).toBe(0);
  for (let i = 0; i < 50 && (await appSessions()) === 0; i++) await new Promise((r) => setTimeout(r, 100));
  expect(await appSessions()).toBe(1);
  writeFileSync(
    join(work, 'hosts.yaml'),
    [
      'hosts:',
      '  box:',
      '    local: true',
      `    journal: ${join(work, 'journal')}`,
      `    backups: { dir: ${join(work, 'backups')}, keep: 10 }`,
      `    path: [${pm2Dir()}]`,
      `    environment: { PM2_HOME: ${pm2Home()} }`,
      '    vars: { pgpw: { env: BG_TEST_PGPW, secret: true } }',
      '    envs:',
      `      blue: { dir: ${blue()}, app: pgapp, migrate: ./migrate.sh, health: http://127.0.0.1:${healthPort}/, db: ${JSON.stringify(pg.inventoryDb('app_m'))} }`,
      '',
    ].join('\n'),
  );
  writeFileSync(join(work, 'migrate-short.yaml'), 'name: pg-migrate\nsteps:\n  - { name: back up blue, action: backup, env: blue }\n  - { name: migrate blue, action: migrate, env: blue, with: { release_timeout: 2s } }\n');
  writeFileSync(join(work, 'migrate.yaml'), 'name: pg-migrate\nsteps:\n  - { name: back up blue, action: backup, env: blue }\n  - { name: migrate blue, action: migrate, env: blue }\n');
}, 60_000);

afterAll(async () => {
  health?.close();
  if (work) await pm2('kill');
  await pg?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('migrate, rollback and restore on PostgreSQL', () => {
  it('a migration that fails half-way (non-transactional) is rolled back to the exact schema and rows', async () => {
    const before = await state();
    // The first statement commits on its own; the second fails: the database is left half-migrated.
    migration('002_half.sql', 'ALTER TABLE users ADD COLUMN nick text;\nCREATE TABLE tags (user_id int REFERENCES users(id), tag text);\nINSERT INTO tags VALUES (1, \'x\');\nINSERT INTO users (email) VALUES (\'new@x\');\nSELECT 1 / 0;\n');
    const r = await run(['run', join(work, 'migrate.yaml'), '--host', 'box']);
    const out = r.stdout + r.stderr;
    expect(r.exitCode, out).toBe(1);
    expect(out).toMatch(/division by zero/);
    expect(out).not.toContain(pg.password);
    expect(await state()).toBe(before);
    expect((await pm2('jlist')).stdout).toMatch(/"status":"online"/);
    for (let i = 0; i < 50 && (await appSessions()) === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await appSessions()).toBe(1);
    // The half-migrated database was dumped before it was replaced.
    const kept = readdirSync(join(work, 'backups')).filter((f) => f.endsWith('.pgdump.rolled-back'));
    expect(kept).toHaveLength(1);
    expect(readFileSync(join(work, 'backups', `${kept[0]}.counts`), 'utf8')).toBe('public.migrations 1\npublic.posts 60\npublic.tags 1\npublic.users 21\n');
    rmSync(join(blue(), 'migrations', '002_half.sql'));
  }, 60_000);

  it('a migration, rows written after it, bg rollback: refused without --accept-data-loss (exit 2, nothing changed), done with it', async () => {
    const before = await state();
    migration('002_nick.sql', 'ALTER TABLE users ADD COLUMN nick text;\nCREATE TABLE tags (user_id int REFERENCES users(id), tag text);\n');
    const r = await run(['run', join(work, 'migrate.yaml'), '--host', 'box']);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(await pg.psql('app_m', "SELECT name FROM migrations WHERE name = '002_nick'")).toBe('002_nick\n');
    // Written after the backup: two new rows, one changed row (by content), one row in a new table.
    await pg.psql('app_m', "SET ROLE bg; INSERT INTO users (email, nick) VALUES ('late1@x', 'l1'), ('late2@x', 'l2'); UPDATE posts SET body = 'edited' WHERE id = 5; INSERT INTO tags VALUES (1, 't');");
    const after = await state();

    const refused = await run(['rollback', '--host', 'box']);
    const said = refused.stdout + refused.stderr;
    expect(refused.exitCode, said).toBe(2);
    expect(said).toMatch(/blue: rows written to PostgreSQL database app_m after this run's backup, not in the restored database \(kept in .*\.pgdump\.rolled-back\): public\.posts 1 rows, public\.tags 1 rows, public\.users 2 rows/);
    expect(said).toMatch(/--accept-data-loss/);
    expect(said).not.toContain(pg.password);
    expect(await state()).toBe(after);

    const done = await run(['rollback', '--host', 'box', '--accept-data-loss']);
    expect(done.exitCode, done.stdout + done.stderr).toBe(0);
    expect(await state()).toBe(before);
    expect(await pg.psql('postgres', "SELECT count(*) FROM pg_database WHERE datname LIKE 'bg\\_%'")).toBe('0\n');
    rmSync(join(blue(), 'migrations', '002_nick.sql'));
  }, 60_000);

  it('bg restore of a .pgdump: refused while the database holds rows the dump lacks; with --accept-data-loss restored; bg rollback puts it back', async () => {
    const backedUp = await state();
    const b = await run(['run', join(work, 'migrate.yaml'), '--host', 'box']);
    expect(b.exitCode, b.stdout + b.stderr).toBe(0);
    const id = lastRun(b.stdout + b.stderr) ?? readdirSync(join(work, 'backups')).filter((f) => f.endsWith('.pgdump')).sort().pop()!.slice('blue-'.length, -'.pgdump'.length);
    await pg.psql('app_m', "SET ROLE bg; INSERT INTO users (email) VALUES ('after@x');");
    const withRow = await state();

    const refused = await run(['restore', '--host', 'box', '--env', 'blue', '--backup', `blue-${id}.pgdump`]);
    expect(refused.exitCode, refused.stdout + refused.stderr).toBe(2);
    expect(refused.stderr).toMatch(/discards rows of blue written after it: public\.users 1 rows/);
    expect(await state()).toBe(withRow);

    const done = await run(['restore', '--host', 'box', '--env', 'blue', '--backup', id, '--accept-data-loss']);
    expect(done.exitCode, done.stdout + done.stderr).toBe(0);
    expect(await state()).toBe(backedUp);

    const back = await run(['rollback', '--host', 'box']);
    expect(back.exitCode, back.stdout + back.stderr).toBe(0);
    expect(await state()).toBe(withRow);
  }, 60_000);

  it('the undo waits for a client in an open transaction, never ends it, and times out saying who; the app is started again', async () => {
    const before = await state();
    migration('002_nick.sql', 'ALTER TABLE users ADD COLUMN nick text;\n');
    const r = await run(['run', join(work, 'migrate-short.yaml'), '--host', 'box']);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    const migrated = await state();
    // Another client (not the app) holds a transaction open on the database.
    const blocker = spawn('psql', ['-X', '-q', '-h', pg.host, '-p', String(pg.port), '-U', pg.user, '-d', 'app_m'], { env: { ...process.env, PGPASSWORD: pg.password, PGAPPNAME: 'blocker' }, stdio: ['pipe', 'ignore', 'ignore'] });
    blocker.stdin!.write('BEGIN; SELECT count(*) FROM users;\n');
    const inTx = async () => Number((await pg.psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'blocker' AND xact_start IS NOT NULL")).trim());
    for (let i = 0; i < 50 && (await inTx()) === 0; i++) await new Promise((res) => setTimeout(res, 100));
    try {
      const stuck = await run(['rollback', '--host', 'box']);
      const said = stuck.stdout + stuck.stderr;
      expect(stuck.exitCode, said).toBe(4);
      expect(said).toMatch(/after 2s these sessions are still on app_m .*\n.*application 'blocker' from 127\.0\.0\.1, idle in transaction since/);
      expect(said).toMatch(/bg ends no session of another client/);
      expect(said).toMatch(/started pgapp again; nothing was changed/);
      expect(await inTx()).toBe(1);
      expect(await state()).toBe(migrated);
      expect((await pm2('jlist')).stdout).toMatch(/"status":"online"/);
    } finally {
      blocker.stdin!.end();
    }
    for (let i = 0; i < 50 && (await inTx()) > 0; i++) await new Promise((res) => setTimeout(res, 100));
    const done = await run(['rollback', '--host', 'box']);
    expect(done.exitCode, done.stdout + done.stderr).toBe(0);
    expect(await state()).toBe(before);
    rmSync(join(blue(), 'migrations', '002_nick.sql'));
  }, 60_000);

  it('odd names are data: a database, table and columns named with quotes, newlines and a leading dash', async () => {
    // The library's functions run by hand: the dump restored exactly, the rows it lacks found by content.
    await pg.psql('postgres', 'CREATE DATABASE "-odd db" OWNER bg;');
    await pg.psql('-odd db', 'SET ROLE bg; CREATE TABLE "we""ird\nt" ("-c d" text, "x;y" int); INSERT INTO "we""ird\nt" VALUES (\'a\nb\', 1), (\'a\nb\', 1); CREATE TABLE migrations (name text);');
    const lib = join(work, 'lib.sh');
    writeFileSync(lib, library().text);
    const conn = [pg.host, String(pg.port), '-odd db', pg.user, '', pg.password];
    const sh = (fn: string, ...args: string[]) => execa('sh', ['-c', '. "$0"; "$@"', lib, fn, ...args], { reject: false });
    const dump = join(work, 'backups', 'odd.pgdump');
    expect((await sh('bg_pg_backup', ...conn, join(work, 'backups'), dump)).exitCode).toBe(0);
    const rows = () => pg.psql('-odd db', 'SELECT * FROM "we""ird\nt" ORDER BY 1, 2;');
    const before = await rows();
    // Two more copies of a row the dump holds twice, then one of the four changed: 2 rows the dump lacks (multisets, by content).
    await pg.psql('-odd db', 'INSERT INTO "we""ird\nt" VALUES (\'a\nb\', 1), (\'a\nb\', 1); UPDATE "we""ird\nt" SET "x;y" = 2 WHERE ctid = (SELECT min(ctid) FROM "we""ird\nt");');
    const extra = await sh('bg_pg_extra', ...conn, dump, 'migrations', 'name');
    expect(extra.stderr).toBe('');
    expect(extra.stdout).toBe('public."we""ird\\nt"|2');
    const restored = await sh('bg_pg_restore_db', ...conn, dump, '', '2', 'RUN-odd', 'missing', 'migrations', 'name');
    expect(restored.exitCode, restored.stderr).toBe(0);
    expect(await rows()).toBe(before);
    expect((await sh('bg_pg_extra', ...conn, dump, 'migrations', 'name')).stdout).toBe('');
    expect(existsSync(`${dump}.rolled-back`)).toBe(true);
  }, 60_000);

  it("migrate refuses to start without this run's .pgdump (a backup step first); the plan shows no password", async () => {
    const before = await state();
    writeFileSync(join(work, 'migrate-only.yaml'), 'name: pg-migrate-only\nsteps:\n  - { name: migrate blue, action: migrate, env: blue }\n');
    migration('002_nick.sql', 'ALTER TABLE users ADD COLUMN nick text;\n');
    const planned = await run(['plan', join(work, 'migrate-only.yaml'), '--host', 'box']);
    expect(planned.exitCode, planned.stderr).toBe(0);
    expect(planned.stdout).toContain('bg_pg_with 127.0.0.1');
    expect(planned.stdout).toContain('"$BG_SECRET_pgpw" bg_pg_migrate_run');
    expect(planned.stdout + planned.stderr).not.toContain(pg.password);
    const r = await run(['run', join(work, 'migrate-only.yaml'), '--host', 'box']);
    expect(r.exitCode, r.stdout + r.stderr).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/no backup of blue from this run at .*\.pgdump: put a backup step for blue before migrate/);
    expect(await state()).toBe(before);
    rmSync(join(blue(), 'migrations', '002_nick.sql'));
  }, 60_000);

  it('a breaking migration is stopped by the lint gate before anything changes', async () => {
    const before = await state();
    const backups = readdirSync(join(work, 'backups')).length;
    migration('003_drop.sql', 'ALTER TABLE users DROP COLUMN email;\n');
    const r = await run(['run', join(work, 'migrate.yaml'), '--host', 'box']);
    const out = r.stdout + r.stderr;
    expect(r.exitCode, out).toBe(1);
    expect(out).toMatch(/003_drop\.sql:1:\d+ drop-column/);
    expect(await state()).toBe(before);
    expect(readdirSync(join(work, 'backups')).length).toBe(backups);
    expect(existsSync(join(blue(), 'migrations', '003_drop.sql'))).toBe(true);
    rmSync(join(blue(), 'migrations', '003_drop.sql'));
  }, 60_000);
});
