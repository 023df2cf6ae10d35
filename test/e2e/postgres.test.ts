import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bg } from '../harness/cli.js';
import { library } from '../../src/remote/library.js';
import { startPgCluster, type PgCluster } from '../harness/postgres.js';

// A real PostgreSQL cluster of the suite's own (test/harness/postgres.ts); bg runs on this machine (local: true).
let pg: PgCluster;
let work: string;
const env = () => ({ BG_TEST_PGPW: pg.password });
const run = (args: string[]) => bg(['--inventory', join(work, 'hosts.yaml'), ...args], { cwd: work, env: env(), timeoutMs: 60_000 });

const SCHEMA_A = `
CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL UNIQUE, created timestamptz DEFAULT now());
CREATE TABLE posts (id bigserial PRIMARY KEY, user_id int REFERENCES users(id), body text CHECK (length(body) < 1000));
CREATE INDEX posts_user ON posts (user_id);
CREATE VIEW user_posts AS SELECT u.email, count(p.id) AS n FROM users u LEFT JOIN posts p ON p.user_id = u.id GROUP BY u.email;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER posts_touch BEFORE UPDATE ON posts FOR EACH ROW EXECUTE FUNCTION touch();
CREATE TABLE migrations (name text PRIMARY KEY);
INSERT INTO migrations VALUES ('001_init'), ('002_posts');
`;
// The same objects, created in another order (and a column added later).
const SCHEMA_B = `
CREATE TABLE migrations (name text PRIMARY KEY);
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL UNIQUE);
ALTER TABLE users ADD COLUMN created timestamptz DEFAULT now();
CREATE TABLE posts (id bigserial PRIMARY KEY, user_id int, body text);
CREATE INDEX posts_user ON posts (user_id);
ALTER TABLE posts ADD CONSTRAINT posts_body_check CHECK (length(body) < 1000);
ALTER TABLE posts ADD CONSTRAINT posts_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id);
CREATE TRIGGER posts_touch BEFORE UPDATE ON posts FOR EACH ROW EXECUTE FUNCTION touch();
CREATE VIEW user_posts AS SELECT u.email, count(p.id) AS n FROM users u LEFT JOIN posts p ON p.user_id = u.id GROUP BY u.email;
INSERT INTO migrations VALUES ('002_posts'), ('001_init');
`;

beforeAll(async () => {
  pg = await startPgCluster();
  work = mkdtempSync(join(tmpdir(), 'bg-pg-e2e-'));
  await pg.createDatabase('app_a', SCHEMA_A + `INSERT INTO users (email) SELECT 'u' || g || '@x' FROM generate_series(1, 50) g; INSERT INTO posts (user_id, body) SELECT 1 + g % 50, 'p' FROM generate_series(1, 200) g;`);
  await pg.createDatabase('app_b', SCHEMA_B);
  mkdirSync(join(work, 'blue'));
  mkdirSync(join(work, 'green'));
  writeFileSync(
    join(work, 'hosts.yaml'),
    [
      'hosts:',
      '  box:',
      '    local: true',
      `    journal: ${join(work, 'journal')}`,
      `    backups: { dir: ${join(work, 'backups')}, keep: 2 }`,
      '    vars: { pgpw: { env: BG_TEST_PGPW, secret: true } }',
      '    envs:',
      `      blue: { dir: ${join(work, 'blue')}, db: ${JSON.stringify(pg.inventoryDb('app_a'))} }`,
      `      green: { dir: ${join(work, 'green')}, db: ${JSON.stringify(pg.inventoryDb('app_b'))} }`,
      '',
    ].join('\n'),
  );
  writeFileSync(join(work, 'backup.yaml'), 'name: pg-backup\nsteps:\n  - { name: back up blue, action: backup, env: blue }\n');
}, 60_000);

afterAll(async () => {
  await pg?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('PostgreSQL envs', () => {
  it('drift: equal fingerprints for the same schema built in another order; an ALTER is reported', async () => {
    const same = await run(['run', 'drift', '--host', 'box']);
    expect(same.stderr + same.stdout).toMatch(/same schema and migrations/);
    expect(same.exitCode).toBe(0);

    await pg.psql('app_b', 'SET ROLE bg; ALTER TABLE posts ALTER COLUMN body TYPE varchar(500); CREATE INDEX users_created ON users (created); CREATE OR REPLACE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.body := lower(NEW.body); RETURN NEW; END $$;');
    const differ = await run(['run', 'drift', '--host', 'box']);
    expect(differ.exitCode).toBe(1);
    const out = differ.stdout + differ.stderr;
    expect(out).toMatch(/only in blue: column public\.posts\.body #3 text/);
    expect(out).toMatch(/only in green: column public\.posts\.body #3 character varying\(500\)/);
    expect(out).toMatch(/only in green: index public\.users_created on public\.users/);
    // A function's body changed: its definition's md5 differs.
    expect(out).toMatch(/only in blue: function public\.touch\(\) returns trigger: md5 /);
    expect(out).toMatch(/only in green: function public\.touch\(\) returns trigger: md5 /);
    expect(out).not.toContain(pg.password);
  }, 60_000);

  it('backup: pg_dump -Fc restored into a scratch database, counts and schema equal; pruned to keep', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await run(['run', join(work, 'backup.yaml'), '--host', 'box']);
      expect(r.stderr + r.stdout).not.toContain(pg.password);
      expect(r.exitCode, r.stderr).toBe(0);
    }
    const dumps = readdirSync(join(work, 'backups')).filter((f) => f.endsWith('.pgdump'));
    expect(dumps).toHaveLength(2);
    // A pruned dump goes with its .counts, .schema and .verified.
    expect(readdirSync(join(work, 'backups')).filter((f) => f.endsWith('.pgdump.schema'))).toHaveLength(2);
    for (const d of dumps) {
      expect(readFileSync(join(work, 'backups', `${d}.verified`), 'utf8')).toMatch(/ ok\n$/);
      expect(readFileSync(join(work, 'backups', `${d}.counts`), 'utf8')).toBe('public.migrations 2\npublic.posts 200\npublic.users 50\n');
    }
    // No scratch database is left behind.
    expect(await pg.psql('postgres', "SELECT count(*) FROM pg_database WHERE datname LIKE 'bg_verify%'")).toBe('0\n');
  }, 60_000);

  it('backup: a corrupted dump is refused by the verification', async () => {
    // The dump is truncated between bg_pg_backup and the verify step: the two functions run by hand from bg's library.
    const lib = join(work, 'lib.sh');
    const dst = join(work, 'backups', 'manual.pgdump');
    const conn = [pg.host, String(pg.port), 'app_a', pg.user, '', pg.password];
    const { execa } = await import('execa');
    writeFileSync(lib, library().text);
    const sh = (fn: string, ...args: string[]) => execa('sh', ['-c', `. "$0"; "$@"`, lib, fn, ...args], { reject: false });
    expect((await sh('bg_pg_backup', ...conn, join(work, 'backups'), dst)).exitCode).toBe(0);
    expect((await sh('bg_pg_backup_verify', ...conn, dst)).exitCode).toBe(0);
    const bytes = readFileSync(dst);
    writeFileSync(dst, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    const bad = await sh('bg_pg_backup_verify', ...conn, dst);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/bg: (restoring .* failed|.* is no readable pg_dump archive|row counts)/);
    expect(readFileSync(`${dst}.verified`, 'utf8')).toMatch(/failed/);
    expect(existsSync(dst)).toBe(true);
    expect(await pg.psql('postgres', "SELECT count(*) FROM pg_database WHERE datname LIKE 'bg_verify%'")).toBe('0\n');
  }, 60_000);

  it('backup under constant writes: counts, schema and dump read one snapshot, so the verification holds', async () => {
    // A writer committing a row every few milliseconds for 8 s (each COMMIT inside the DO block is its own transaction).
    const writer = pg
      .psql('app_a', "SET ROLE bg; SET statement_timeout = '8s'; DO $$ BEGIN LOOP INSERT INTO posts (user_id, body) VALUES (1, 'w'); COMMIT; PERFORM pg_sleep(0.002); END LOOP; END $$;")
      .catch((e: Error) => e.message);
    await new Promise((r) => setTimeout(r, 500));
    const before = Number(await pg.psql('app_a', 'SELECT count(*) FROM posts'));
    const r = await run(['run', join(work, 'backup.yaml'), '--host', 'box']);
    const after = Number(await pg.psql('app_a', 'SELECT count(*) FROM posts'));
    expect(await writer).toMatch(/statement timeout/);
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/one snapshot/);
    // Rows were written while the backup ran, and the dump holds a count between the two readings.
    expect(after).toBeGreaterThan(before);
    const dumps = readdirSync(join(work, 'backups')).filter((f) => f.startsWith('blue-') && f.endsWith('.pgdump')).sort();
    const counts = readFileSync(join(work, 'backups', `${dumps.at(-1)}.counts`), 'utf8');
    const n = Number(/public\.posts (\d+)/.exec(counts)![1]);
    expect(n).toBeGreaterThanOrEqual(before);
    expect(n).toBeLessThanOrEqual(after);
    expect(readFileSync(join(work, 'backups', `${dumps.at(-1)}.verified`), 'utf8')).toMatch(/ ok\n$/);
  }, 60_000);

  it('copy_to, bg backups and bg restore --from-local: a dump copied off the host is restored onto a host whose backups directory was deleted', async () => {
    const copies = join(work, 'copies');
    writeFileSync(join(work, 'backup-copy.yaml'), `name: pg-backup-copy\nsteps:\n  - { name: back up blue, action: backup, env: blue, with: { copy_to: ${JSON.stringify(copies)} } }\n`);
    const b = await run(['run', join(work, 'backup-copy.yaml'), '--host', 'box']);
    expect(b.exitCode, b.stderr + b.stdout).toBe(0);
    const copy = readdirSync(join(copies, 'box')).find((f) => f.endsWith('.pgdump'))!;
    expect(copy).toMatch(/^blue-.*\.pgdump$/);
    expect(existsSync(join(copies, 'box', `${copy}.sha256`))).toBe(true);

    // bg backups lists the dump with its rows (PostgreSQL's `schema.table N` counts) and its copy.
    const list = await run(['backups', '--host', 'box', '--json', `--copy-to=${copies}`]);
    expect(list.exitCode, list.stderr).toBe(0);
    const entry = (JSON.parse(list.stdout) as Array<{ file: string; rows: Record<string, number> | null; copies: Array<{ path: string }> }>).find((e) => e.file === copy)!;
    expect(entry.rows).toMatchObject({ 'public.users': 50 });
    expect(entry.copies.map((c) => c.path)).toEqual([join(copies, 'box', copy)]);

    // The host loses its backups; a row is written after the backup.
    rmSync(join(work, 'backups'), { recursive: true, force: true });
    const posts = await pg.psql('app_a', 'SELECT count(*) FROM posts');
    await pg.psql('app_a', "SET ROLE bg; INSERT INTO posts (user_id, body) VALUES (1, 'after the backup');");
    const refused = await run(['restore', '--host', 'box', '--env', 'blue', `--from-local=${join(copies, 'box', copy)}`]);
    expect(refused.exitCode, refused.stderr).toBe(2);
    expect(refused.stdout + refused.stderr).toMatch(/public\.posts 1/);
    const r = await run(['restore', '--host', 'box', '--env', 'blue', `--from-local=${join(copies, 'box', copy)}`, '--accept-data-loss']);
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    expect(await pg.psql('app_a', 'SELECT count(*) FROM posts')).toBe(posts);
    // The dump came back with its counts and schema recorded again (a scratch restore), beside it on the host.
    expect(readFileSync(join(work, 'backups', `${copy}.counts`), 'utf8')).toMatch(/^public\.users 50$/m);
    expect(r.stdout + r.stderr).not.toContain(pg.password);
  }, 120_000);

  it('backup stopped mid-dump (TERM to its process group, as the step timeout sends it): no half dump and no FIFO directory stay', async () => {
    await pg.createDatabase('big_term', 'CREATE TABLE t (x text); INSERT INTO t SELECT repeat(md5(g::text), 30) FROM generate_series(1, 400000) g;');
    const dir = mkdtempSync(join(tmpdir(), 'bg-pg-term-'));
    const lib = join(dir, 'lib.sh');
    writeFileSync(lib, library().text);
    const { execa } = await import('execa');
    const p = execa('sh', ['-c', '. "$0"; "$@"', lib, 'bg_pg_backup', pg.host, String(pg.port), 'big_term', pg.user, '', pg.password, join(dir, 'b'), join(dir, 'b', 'x.pgdump')], { reject: false, detached: true, env: { TMPDIR: dir } });
    for (let i = 0; i < 250 && !existsSync(join(dir, 'b', 'x.pgdump.tmp')); i++) await new Promise((r) => setTimeout(r, 20));
    expect(existsSync(join(dir, 'b', 'x.pgdump.tmp'))).toBe(true);
    process.kill(-p.pid!, 'SIGTERM');
    await p;
    expect(readdirSync(dir).filter((f) => f.startsWith('bg-pgsnap'))).toEqual([]);
    expect(readdirSync(join(dir, 'b'))).toEqual([]);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);
});
