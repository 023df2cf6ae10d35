#!/usr/bin/env node
// Migration runner: `npm run migrate:prod` (= node migrate.js).
//
//   node migrate.js             apply pending migrations in order, each in its own transaction;
//                               prints "Applied NAME" per migration, or "No pending migrations"
//   node migrate.js --to 002    apply pending migrations up to and including the one whose name
//                               starts with "002" (or equals it)
//   node migrate.js --pending   list pending migration file names, one per line (read-only)
//   node migrate.js --status    applied/pending table (read-only); --status --json for machines
//
// Config: .env in the working directory, then the environment (see lib/env.js):
//   DB_PATH         database file, relative to the working directory (default database.db)
//   MIGRATIONS_DIR  folder of NNN_name.sql files (default: ./migrations beside this script, or
//                   ./migrations-pg on PostgreSQL; a relative value is resolved against the
//                   working directory)
//   DATABASE_URL / PGDATABASE (and PG*)  PostgreSQL instead of SQLite (lib/migrate-pg.js)
// Exit codes: 0 ok, 1 a migration failed (earlier ones stay applied), 2 usage error.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { config, loadEnvFile } from './lib/env.js';
import { hasTable, openDb } from './lib/db.js';
import { migratePg } from './lib/migrate-pg.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const FILE_RE = /^(\d+)_[^/]*\.sql$/;

function usage(msg) {
  if (msg) process.stderr.write(`migrate: ${msg}\n`);
  process.stderr.write('usage: node migrate.js [--to NAME|NUMBER] | --pending | --status [--json]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { mode: 'apply', to: null, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--pending') opts.mode = 'pending';
    else if (a === '--status') opts.mode = 'status';
    else if (a === '--json') opts.json = true;
    else if (a === '--to') {
      const v = argv[++i];
      if (!v) usage('--to needs a value');
      opts.to = v;
    } else if (a.startsWith('--to=')) opts.to = a.slice(5);
    else if (a === '-h' || a === '--help') usage();
    else usage(`unknown argument ${a}`);
  }
  return opts;
}

/** Migration files, ordered by numeric prefix then name. */
export function listMigrations(dir) {
  if (!existsSync(dir)) throw new Error(`migrations folder not found: ${dir}`);
  return readdirSync(dir)
    .map((name) => ({ name, m: FILE_RE.exec(name) }))
    .filter((x) => x.m !== null)
    .map(({ name, m }) => ({ name, seq: Number(m[1]), file: join(dir, name) }))
    .sort((a, b) => a.seq - b.seq || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

const CREATE_MIGRATIONS = `CREATE TABLE IF NOT EXISTS migrations (
  name       TEXT PRIMARY KEY,
  applied_at TEXT NOT NULL
)`;

function appliedMap(db) {
  if (!hasTable(db, 'migrations')) return new Map();
  return new Map(db.prepare('SELECT name, applied_at FROM migrations').all().map((r) => [r.name, r.applied_at]));
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  loadEnvFile();
  const cfg = config();
  const { dbPath } = cfg;
  const dir = process.env.MIGRATIONS_DIR
    ? resolve(process.cwd(), process.env.MIGRATIONS_DIR)
    : join(HERE, cfg.pg ? 'migrations-pg' : 'migrations');
  const all = listMigrations(dir);
  if (cfg.pg) return migratePg(cfg, opts, dir, all, usage);

  if (opts.mode === 'pending' || opts.mode === 'status') {
    // Read-only: never create the database or the migrations table.
    let applied = new Map();
    if (existsSync(dbPath)) {
      const db = openDb(dbPath, { readonly: true });
      try { applied = appliedMap(db); } finally { db.close(); }
    }
    const pending = all.filter((m) => !applied.has(m.name));
    if (opts.mode === 'pending') {
      for (const m of pending) process.stdout.write(`${m.name}\n`);
      return 0;
    }
    const rows = all.map((m) => ({ name: m.name, applied_at: applied.get(m.name) ?? null }));
    // Applied names with no file (e.g. applied from another branch) are reported too.
    const known = new Set(all.map((m) => m.name));
    const unknown = [...applied.keys()].filter((n) => !known.has(n)).sort();
    if (opts.json) {
      process.stdout.write(`${JSON.stringify({ db: dbPath, dir, migrations: rows, pending: pending.map((m) => m.name), unknown })}\n`);
      return 0;
    }
    process.stdout.write(`Database: ${dbPath}\nMigrations: ${dir}\n`);
    for (const r of rows) process.stdout.write(`${r.applied_at ? '[x]' : '[ ]'} ${r.name}${r.applied_at ? `  applied ${r.applied_at}` : '  pending'}\n`);
    for (const n of unknown) process.stdout.write(`[?] ${n}  applied, but no such file\n`);
    process.stdout.write(`${all.length - pending.length} applied, ${pending.length} pending\n`);
    return 0;
  }

  let targets = all;
  if (opts.to !== null) {
    const idx = all.findIndex((m) => m.name === opts.to || m.name.startsWith(`${opts.to}_`) || String(m.seq) === String(Number(opts.to)));
    if (idx < 0) usage(`--to ${opts.to}: no such migration in ${dir}`);
    targets = all.slice(0, idx + 1);
  }

  const db = openDb(dbPath);
  try {
    db.exec(CREATE_MIGRATIONS);
    const already = db.prepare('SELECT 1 FROM migrations WHERE name = ?');
    const record = db.prepare('INSERT INTO migrations (name, applied_at) VALUES (?, ?)');
    let count = 0;
    for (const m of targets) {
      if (already.get(m.name)) continue;
      const sql = readFileSync(m.file, 'utf8');
      // BEGIN IMMEDIATE takes the write lock up front (waiting up to busy_timeout), and the
      // re-check inside makes two concurrent runners apply each migration once.
      const apply = db.transaction(() => {
        if (already.get(m.name)) return false;
        db.exec(sql);
        record.run(m.name, new Date().toISOString());
        return true;
      });
      try {
        if (apply.immediate()) {
          process.stdout.write(`Applied ${m.name}\n`);
          count++;
        }
      } catch (err) {
        process.stderr.write(`Failed ${m.name}: ${err && err.message ? err.message : err}\n`);
        process.stderr.write(`${count} migration(s) applied before the failure; ${m.name} was rolled back\n`);
        return 1;
      }
    }
    if (count === 0) {
      const last = targets[targets.length - 1];
      process.stdout.write(targets.length < all.length && last
        ? `No pending migrations up to ${last.name}\n`
        : 'No pending migrations\n');
    }
    return 0;
  } finally {
    db.close();
  }
}

try {
  process.exitCode = await main();
} catch (err) {
  process.stderr.write(`migrate: ${err && err.message ? err.message : err}\n`);
  process.exitCode = 1;
}
