// migrate.js on PostgreSQL: the same modes and output as on SQLite. Each migration runs in its own
// transaction holding an advisory lock, so two runners apply each migration once.
import { readFileSync } from 'node:fs';
import { openPool, pgHasTable } from './pg.js';

const CREATE_MIGRATIONS = `CREATE TABLE IF NOT EXISTS migrations (
  name       text PRIMARY KEY,
  applied_at text NOT NULL
)`;
// Any constant: the lock that serialises migration runners of this app.
const LOCK_KEY = 7253151;

async function appliedMap(q) {
  if (!(await pgHasTable(q, 'migrations'))) return new Map();
  return new Map((await q.query('SELECT name, applied_at FROM migrations')).rows.map((r) => [r.name, r.applied_at]));
}

// A migration that cannot run in a transaction (CREATE INDEX CONCURRENTLY) says so on a line of its own.
const NO_TRANSACTION = /^--\s*migrate:no-transaction\b/m;

/**
 * One statement outside a transaction, under the session's advisory lock: applied, skipped (another
 * runner did it) or failed. A failed CONCURRENTLY build can leave an INVALID index: the file should
 * use IF NOT EXISTS only after dropping it, as PostgreSQL's manual says; the error says which.
 */
async function applyWithoutTransaction(c, m, sql, count) {
  await c.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
  try {
    if ((await c.query('SELECT 1 FROM migrations WHERE name = $1', [m.name])).rowCount > 0) return 'skipped';
    await c.query(sql);
    await c.query('INSERT INTO migrations (name, applied_at) VALUES ($1, $2)', [m.name, new Date().toISOString()]);
    process.stdout.write(`Applied ${m.name} (outside a transaction)\n`);
    return 'applied';
  } catch (err) {
    process.stderr.write(`Failed ${m.name}: ${err && err.message ? err.message : err}\n`);
    process.stderr.write(`${count} migration(s) applied before the failure; ${m.name} ran outside a transaction: check what it left (an INVALID index: DROP INDEX CONCURRENTLY, then run again)\n`);
    return 'failed';
  } finally {
    await c.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => undefined);
  }
}

/** --pending, --status [--json], or apply (optionally --to); returns the exit code. */
export async function migratePg(cfg, opts, dir, all, usage) {
  const pool = await openPool({ ...cfg, pg: { ...cfg.pg, applicationName: `${cfg.pg.applicationName}-migrate` } }, { max: 1 });
  const where = cfg.pg.url ? 'DATABASE_URL' : `PGDATABASE=${process.env.PGDATABASE}`;
  try {
    if (opts.mode === 'pending' || opts.mode === 'status') {
      const applied = await appliedMap(pool);
      const pending = all.filter((m) => !applied.has(m.name));
      if (opts.mode === 'pending') {
        for (const m of pending) process.stdout.write(`${m.name}\n`);
        return 0;
      }
      const rows = all.map((m) => ({ name: m.name, applied_at: applied.get(m.name) ?? null }));
      const known = new Set(all.map((m) => m.name));
      const unknown = [...applied.keys()].filter((n) => !known.has(n)).sort();
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ db: where, dir, migrations: rows, pending: pending.map((m) => m.name), unknown })}\n`);
        return 0;
      }
      process.stdout.write(`Database: PostgreSQL (${where})\nMigrations: ${dir}\n`);
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
    const c = await pool.connect();
    try {
      await c.query(CREATE_MIGRATIONS);
      let count = 0;
      for (const m of targets) {
        const sql = readFileSync(m.file, 'utf8');
        if (NO_TRANSACTION.test(sql)) {
          const r = await applyWithoutTransaction(c, m, sql, count);
          if (r === 'failed') return 1;
          if (r === 'applied') count++;
          continue;
        }
        await c.query('BEGIN');
        try {
          await c.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
          if ((await c.query('SELECT 1 FROM migrations WHERE name = $1', [m.name])).rowCount > 0) {
            await c.query('ROLLBACK');
            continue;
          }
          await c.query(sql);
          await c.query('INSERT INTO migrations (name, applied_at) VALUES ($1, $2)', [m.name, new Date().toISOString()]);
          await c.query('COMMIT');
          process.stdout.write(`Applied ${m.name}\n`);
          count++;
        } catch (err) {
          await c.query('ROLLBACK').catch(() => undefined);
          process.stderr.write(`Failed ${m.name}: ${err && err.message ? err.message : err}\n`);
          process.stderr.write(`${count} migration(s) applied before the failure; ${m.name} was rolled back\n`);
          return 1;
        }
      }
      if (count === 0) {
        const last = targets[targets.length - 1];
        process.stdout.write(targets.length < all.length && last ? `No pending migrations up to ${last.name}\n` : 'No pending migrations\n');
      }
      return 0;
    } finally {
      c.release();
    }
  } finally {
    await pool.end();
  }
}
