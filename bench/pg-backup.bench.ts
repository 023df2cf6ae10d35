// Issue 16: backup and verified restore of a 1 GB PostgreSQL database on this machine. bg's backup
// step is pg_dump -Fc bracketed by row counts and the schema fingerprint, then verified by a
// restore into a scratch database; its peers are the bare tools: one pg_dump -Fc, one pg_restore.
// The cluster is the suite's own (test/harness/postgres.ts), durable here (fsync on), on this
// machine's disk; bg runs on the same machine (`local: true`).
import { execa } from 'execa';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, it } from 'vitest';
import { bg } from '../test/harness/cli.js';
import { startPgCluster, type PgCluster } from '../test/harness/postgres.js';
import { report } from './stats.js';

const MB = 1024 * 1024;
const TARGET_MB = Number(process.env.BG_BENCH_PG_MB ?? 1024);

let pg: PgCluster;
let work = '';

const run = (args: string[]) => bg(['--inventory', join(work, 'hosts.yaml'), ...args], { cwd: work, env: { BG_BENCH_PGPW: pg.password }, timeoutMs: 1_800_000 });
const conn = (db: string) => ['-h', pg.host, '-p', String(pg.port), '-U', pg.user, '-d', db];
const pgEnv = () => ({ ...process.env, PGPASSWORD: pg.password });
const size = async (db: string) => Number((await pg.psql('postgres', `SELECT pg_database_size('${db}')`)).trim());

beforeAll(async () => {
  pg = await startPgCluster({ durable: true });
  work = mkdtempSync(join(tmpdir(), 'bg-bench-pg-'));
  mkdirSync(join(work, 'blue'));
  await pg.createDatabase('big');
  // An app's shape: an events table with a text payload, its primary key and one secondary index.
  await pg.psql('big', 'SET ROLE bg; CREATE TABLE events (id bigserial PRIMARY KEY, account int NOT NULL, at timestamptz NOT NULL, kind text NOT NULL, payload text NOT NULL); CREATE TABLE migrations (name text PRIMARY KEY); INSERT INTO migrations VALUES (\'001_events\');');
  // 1M rows at a time (about 250 MB with indexes) until the database reaches the target size.
  while ((await size('big')) < TARGET_MB * MB) {
    await pg.psql('big', "SET ROLE bg; INSERT INTO events (account, at, kind, payload) SELECT g % 5000, now() - g * interval '1 second', (ARRAY['login','order','refund','view'])[1 + g % 4], repeat(md5(g::text || random()::text), 4) FROM generate_series(1, 1000000) g;");
  }
  await pg.psql('big', 'SET ROLE bg; CREATE INDEX events_account_at ON events (account, at); VACUUM ANALYZE events;');
  writeFileSync(
    join(work, 'hosts.yaml'),
    [
      'hosts:',
      '  box:',
      '    local: true',
      `    journal: ${join(work, 'journal')}`,
      `    backups: { dir: ${join(work, 'backups')}, keep: 5 }`,
      '    vars: { pgpw: { env: BG_BENCH_PGPW, secret: true } }',
      '    envs:',
      `      blue: { dir: ${join(work, 'blue')}, db: ${JSON.stringify(pg.inventoryDb('big'))} }`,
      '',
    ].join('\n'),
  );
  writeFileSync(join(work, 'backup.yaml'), 'name: pg-backup\nsteps:\n  - { name: back up blue, action: backup, env: blue }\n');
}, 1_800_000);

afterAll(async () => {
  await pg?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

it('backup and verified restore of a 1 GB PostgreSQL database', async () => {
  const dbBytes = await size('big');
  const rows = Number((await pg.psql('big', 'SELECT count(*) FROM events')).trim());
  const secs = (t0: number) => +((performance.now() - t0) / 1000).toFixed(1);

  // The bare tools, as a script would run them.
  let t0 = performance.now();
  await execa('pg_dump', ['-Fc', '-f', join(work, 'raw.pgdump'), ...conn('big')], { env: pgEnv() });
  const pgDumpS = secs(t0);
  await pg.psql('postgres', 'CREATE DATABASE raw_restore OWNER bg;');
  t0 = performance.now();
  await execa('pg_restore', ['--no-owner', '--exit-on-error', ...conn('raw_restore'), join(work, 'raw.pgdump')], { env: pgEnv() });
  const pgRestoreS = secs(t0);
  await pg.psql('postgres', 'DROP DATABASE raw_restore;');

  // bg's backup step: dump, counts and fingerprint before and after, restore into a scratch database, compare.
  t0 = performance.now();
  const b = await run(['run', join(work, 'backup.yaml'), '--host', 'box']);
  const bgBackupS = secs(t0);
  if (b.exitCode !== 0) throw new Error(`bg backup failed: ${b.stderr}`);
  const dump = readdirSync(join(work, 'backups')).find((f) => f.endsWith('.pgdump'))!;

  // bg restore of that backup into the env's database (app-less env): the journaled restore, its copy of the database as it was first.
  const id = dump.replace(/^blue-/, '').replace(/\.pgdump$/, '');
  t0 = performance.now();
  const r = await run(['restore', '--host', 'box', '--env', 'blue', '--backup', id, '--accept-data-loss', '--json']);
  const bgRestoreS = secs(t0);
  // Where the time goes: each command's duration on the host, from the run's --json events.
  const parts: Record<string, number> = {};
  for (const line of r.stdout.split('\n')) {
    const e = (() => { try { return JSON.parse(line) as { type?: string; cmd?: string; durationMs?: number }; } catch { return {}; } })();
    if (e.type === 'command' && e.cmd && e.durationMs !== undefined) {
      const fn = /(bg_[a-z_]+)/.exec(e.cmd.split('\n').pop()!)?.[1] ?? e.cmd.slice(0, 30);
      parts[fn] = +((parts[fn] ?? 0) + e.durationMs / 1000).toFixed(1);
    }
  }
  const restore = r.exitCode === 0 ? { bg_restore_s: bgRestoreS, bg_restore_commands_s: parts } : { bg_restore: `not measured: exit ${r.exitCode}: ${r.stderr.trim().split('\n').slice(-2).join(' ')}` };

  report('pg-backup', {
    database_mb: Math.round(dbBytes / MB),
    rows,
    dump_mb: Math.round(statSync(join(work, 'backups', dump)).size / MB),
    pg_dump_s: pgDumpS,
    pg_restore_s: pgRestoreS,
    bg_backup_verified_s: bgBackupS,
    ...restore,
  });
}, 3_600_000);
