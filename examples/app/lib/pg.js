// PostgreSQL mode of the app (chosen when DATABASE_URL or PGDATABASE is set: see lib/env.js).
// `pg` is imported only in this mode, so the SQLite mode runs without it.

/** Connection errors and server shutdowns: the request was not served, the client may retry (503). */
const UNAVAILABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', '57P01', '57P02', '57P03', '53300', '08000', '08001', '08003', '08006']);

export function pgUnavailable(err) {
  return Boolean(err && (UNAVAILABLE.has(err.code) || /Connection terminated|timeout exceeded when trying to connect/.test(err.message ?? '')));
}

/**
 * A pool for cfg.pg: DATABASE_URL when set, else libpq's PG* variables (PGHOST, PGPORT, PGDATABASE,
 * PGUSER, PGPASSWORD, read by `pg` itself), with application_name = cfg.pg.applicationName so that
 * pg_stat_activity shows which env holds which connection. Idle connections are kept (never timed
 * out) so the env's connection stays visible while the app runs.
 */
export async function openPool(cfg, { max = 4 } = {}) {
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({
    ...(cfg.pg.url ? { connectionString: cfg.pg.url } : {}),
    application_name: cfg.pg.applicationName,
    max,
    idleTimeoutMillis: 0,
    connectionTimeoutMillis: 5000,
  });
  // An idle client's error (server restart, terminated backend) must not crash the process.
  pool.on('error', (err) => console.error(`[${cfg.appEnv || 'app'}] idle PostgreSQL connection: ${err.message}`));
  return pool;
}

/** The table exists in the current schema search path. */
export async function pgHasTable(q, name) {
  const r = await q.query('SELECT to_regclass($1) IS NOT NULL AS ok', [name]);
  return r.rows[0].ok;
}

/** The column exists (current search path). */
export async function pgHasColumn(q, table, column) {
  const r = await q.query('SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2 AND NOT attisdropped', [table, column]);
  return r.rowCount > 0;
}

/** The HTTP routes' database work in PostgreSQL: same answers as the SQLite code in server.js. */
export function pgStore(pool) {
  let hasProject = false; // cached once seen: a migration may add the column while the app runs
  return {
    async health() {
      const r = await pool.query('SELECT current_database() AS db');
      const migrations = (await pgHasTable(pool, 'migrations')) ? (await pool.query('SELECT count(*)::int AS n FROM migrations')).rows[0].n : 0;
      return { database: r.rows[0].db, migrations };
    },
    async insert(description, minutes, project) {
      if (typeof project === 'string' && !hasProject) hasProject = await pgHasColumn(pool, 'time_entries', 'project');
      // Autocommit: the INSERT returns after COMMIT (synchronous_commit as the server sets it).
      const r = typeof project === 'string' && hasProject
        ? await pool.query('INSERT INTO time_entries (description, minutes, project) VALUES ($1, $2, $3) RETURNING id', [description, minutes, project])
        : await pool.query('INSERT INTO time_entries (description, minutes) VALUES ($1, $2) RETURNING id', [description, minutes]);
      return Number(r.rows[0].id);
    },
    async list(after, limit) {
      return (await pool.query('SELECT * FROM time_entries WHERE id > $1 ORDER BY id LIMIT $2', [after, limit])).rows;
    },
    async count() {
      const r = await pool.query('SELECT count(*)::int AS count, coalesce(max(id), 0)::int AS "maxId" FROM time_entries');
      return r.rows[0];
    },
  };
}
