#!/usr/bin/env node
// TimeTracking example server: what bg deploys twice (BLUE and GREEN) under pm2 in its tests
// and demo. Plain node:http + better-sqlite3, or PostgreSQL through `pg` when DATABASE_URL or
// PGDATABASE is set (lib/pg.js); see README.md for the API and configuration.
import { createServer } from 'node:http';
import { fstatSync, readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { config, loadEnvFile } from './lib/env.js';
import { hasColumn, hasTable, openDb } from './lib/db.js';
import { openPool, pgStore, pgUnavailable } from './lib/pg.js';

loadEnvFile(); // <cwd>/.env, re-read at every (re)start: see lib/env.js
const cfg = config();
const startedAt = new Date().toISOString();

// ---------------------------------------------------------------- database
let db = null;
let dbError = null;
let dbIdentity = null; // { dev, ino, path } of the file this process actually has open

function tryOpenDb() {
  if (db) return db;
  try {
    db = openDb(cfg.dbPath);
    const st = statSync(cfg.dbPath);
    dbIdentity = { dev: st.dev, ino: st.ino, path: realpathSync(cfg.dbPath) };
    dbError = null;
  } catch (err) {
    db = null;
    dbError = err;
    console.error(`[${cfg.appEnv || 'app'}] cannot open ${cfg.dbPath}: ${err.message}`);
  }
  return db;
}
// PostgreSQL mode: one pool, connected at start so that pg_stat_activity shows this env at once.
const pool = cfg.pg ? await openPool(cfg) : null;
const store = pool ? pgStore(pool) : null;
if (pool) await pool.query('SELECT 1').catch((err) => console.error(`[${cfg.appEnv || 'app'}] cannot connect to PostgreSQL: ${err.message}`));
else tryOpenDb();

/**
 * Path of the database file this process has open right now. A process keeps its file
 * descriptor across a rename or symlink swap of DB_PATH, so the configured path can point
 * at one file while the process writes to another; /proc/self/fd tells the truth on Linux.
 */
function openDbFilePath() {
  if (!dbIdentity) return null;
  try {
    for (const fd of readdirSync('/proc/self/fd')) {
      let target;
      try { target = readlinkSync(`/proc/self/fd/${fd}`); } catch { continue; }
      if (!target.startsWith('/')) continue;
      try {
        const st = fstatSync(Number(fd));
        if (st.dev === dbIdentity.dev && st.ino === dbIdentity.ino) return target;
      } catch { /* fd closed meanwhile */ }
    }
  } catch { /* no /proc: not Linux */ }
  return dbIdentity.path;
}

function resolvedDbPath() {
  try { return realpathSync(cfg.dbPath); } catch { return null; }
}

// ---------------------------------------------------------------- http helpers
class HttpError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

function send(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...(cfg.color ? { 'x-app-color': cfg.color } : {}),
    ...headers,
  });
  res.end(text);
}

function corsHeaders(req) {
  const origin = req.headers.origin;
  if (!origin) return {};
  const allowed = (process.env.ALLOWED_ORIGINS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (allowed.includes('*') || allowed.includes(origin)) {
    return { 'access-control-allow-origin': origin, vary: 'Origin' };
  }
  return { vary: 'Origin' };
}

async function readJson(req, limit = 64 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw new HttpError(413, 'request body too large');
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null');
  } catch {
    throw new HttpError(400, 'body is not valid JSON');
  }
}

function requireDb() {
  const d = tryOpenDb();
  if (!d) throw new HttpError(503, `database unavailable: ${dbError?.message ?? 'not open'}`);
  return d;
}

function intParam(url, name, dflt, min, max) {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new HttpError(400, `${name} must be an integer in [${min}, ${max}]`);
  return n;
}

// ---------------------------------------------------------------- routes
async function pgHealth() {
  const base = { env: cfg.appEnv, color: cfg.color, pid: process.pid, port: cfg.port, startedAt, dbPath: null };
  try {
    const { database, migrations } = await store.health();
    return [200, { status: 'ok', ...base, db: `postgres:${database}`, database, migrations }];
  } catch (err) {
    return [503, { status: 'error', ...base, db: null, error: err.message }];
  }
}

function health() {
  const base = { env: cfg.appEnv, color: cfg.color, pid: process.pid, port: cfg.port, startedAt, dbPath: resolvedDbPath() };
  try {
    const d = requireDb();
    d.prepare('SELECT 1').get();
    const migrations = hasTable(d, 'migrations') ? d.prepare('SELECT count(*) AS n FROM migrations').get().n : 0;
    return [200, { status: 'ok', ...base, db: openDbFilePath(), migrations }];
  } catch (err) {
    return [503, { status: 'error', ...base, db: openDbFilePath() ?? base.dbPath, error: err.message }];
  }
}

/** The checks of insertEntry; throws HttpError 400. */
function validEntry(body) {
  if (!body || typeof body !== 'object') throw new HttpError(400, 'expected a JSON object');
  const { description, minutes, project } = body;
  if (typeof description !== 'string' || description.trim() === '' || description.length > 1000) {
    throw new HttpError(400, 'description must be a non-empty string (max 1000 chars)');
  }
  if (!Number.isInteger(minutes) || minutes < 0 || minutes > 100000) {
    throw new HttpError(400, 'minutes must be an integer in [0, 100000]');
  }
  if (project !== undefined && project !== null && typeof project !== 'string') {
    throw new HttpError(400, 'project must be a string');
  }
  return { description, minutes, project };
}

async function pgInsertEntry(body) {
  const { description, minutes, project } = validEntry(body);
  // Answered only after the INSERT's COMMIT returned: an acknowledged write.
  return { id: await store.insert(description, minutes, project), env: cfg.appEnv };
}

function insertEntry(body) {
  const { description, minutes, project } = validEntry(body);
  const d = requireDb();
  // better-sqlite3 is synchronous: run() returns after COMMIT (autocommit, synchronous=FULL),
  // so the 201 below is only sent for a write that is durably in the database.
  const info = typeof project === 'string' && hasColumn(d, 'time_entries', 'project')
    ? d.prepare('INSERT INTO time_entries (description, minutes, project) VALUES (?, ?, ?)').run(description, minutes, project)
    : d.prepare('INSERT INTO time_entries (description, minutes) VALUES (?, ?)').run(description, minutes);
  return { id: Number(info.lastInsertRowid), env: cfg.appEnv };
}

async function handle(req, res) {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const cors = corsHeaders(req);
  const route = `${req.method} ${url.pathname.replace(/\/+$/, '') || '/'}`;
  try {
    switch (route) {
      case 'GET /api/health': {
        const [status, body] = store ? await pgHealth() : health();
        return send(res, status, body, cors);
      }
      case 'GET /api/config':
        return send(res, 200, {
          ALLOWED_ORIGINS: process.env.ALLOWED_ORIGINS ?? null,
          APP_ENV: process.env.APP_ENV ?? null,
          PORT: process.env.PORT ?? null,
        }, cors);
      case 'POST /api/entries':
        return send(res, 201, store ? await pgInsertEntry(await readJson(req)) : insertEntry(await readJson(req)), cors);
      case 'GET /api/entries': {
        const after = intParam(url, 'after', 0, 0, Number.MAX_SAFE_INTEGER);
        const limit = intParam(url, 'limit', 1000, 1, 10000);
        const entries = store ? await store.list(after, limit) : requireDb().prepare('SELECT * FROM time_entries WHERE id > ? ORDER BY id LIMIT ?').all(after, limit);
        return send(res, 200, { entries }, cors);
      }
      case 'GET /api/entries/count': {
        const row = store ? await store.count() : requireDb().prepare('SELECT count(*) AS count, max(id) AS maxId FROM time_entries').get();
        return send(res, 200, { count: row.count, maxId: row.maxId ?? 0 }, cors);
      }
      default:
        if (req.method === 'OPTIONS') {
          return send(res, 204, {}, { ...cors, 'access-control-allow-methods': 'GET, POST', 'access-control-allow-headers': 'content-type' });
        }
        return send(res, 404, { error: `no route ${req.method} ${url.pathname}` }, cors);
    }
  } catch (err) {
    let status = err instanceof HttpError ? err.status : 500;
    // Locked database (a migration holding the write lock past busy_timeout): the write was
    // NOT made; tell the client to retry rather than report a server bug.
    if (err && (err.code === 'SQLITE_BUSY' || err.code === 'SQLITE_LOCKED')) status = 503;
    // PostgreSQL unreachable or shutting down: the write was not made either.
    if (store && pgUnavailable(err)) status = 503;
    if (status >= 500) console.error(`[${cfg.appEnv || 'app'}] ${route}: ${err.stack ?? err}`);
    return send(res, status, { error: err.message, code: err.code }, cors);
  }
}

// ---------------------------------------------------------------- lifecycle
const server = createServer((req, res) => {
  handle(req, res).catch((err) => {
    console.error(err);
    if (!res.headersSent) send(res, 500, { error: 'internal error' });
    else res.destroy();
  });
});
server.keepAliveTimeout = 5000;

server.on('error', (err) => {
  console.error(`[${cfg.appEnv || 'app'}] server error: ${err.message}`);
  process.exit(1);
});

server.listen(cfg.port, cfg.host, () => {
  console.log(`[${cfg.appEnv || 'app'}] pid ${process.pid} listening on ${cfg.host ?? '*'}:${cfg.port}, db ${cfg.dbPath}`);
  // pm2 `--wait-ready` / `wait_ready: true` (cluster-mode reloads) waits for this message.
  if (typeof process.send === 'function') process.send('ready');
});

let shuttingDown = false;
function shutdown(signal) {
  if (shuttingDown) return;
  shuttingDown = true;
  console.log(`[${cfg.appEnv || 'app'}] ${signal}: closing`);
  const force = setTimeout(() => {
    console.error(`[${cfg.appEnv || 'app'}] requests still open after 3 s, exiting`);
    finish(1);
  }, 3000);
  force.unref();
  server.close(() => finish(0)); // stop accepting; wait for in-flight requests
  server.closeIdleConnections();
}
function finish(code) {
  try { db?.close(); } catch (err) { console.error(err); }
  if (pool) pool.end().catch((err) => console.error(err)).finally(() => process.exit(code));
  else process.exit(code);
}
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));
// pm2 sends this message instead of a signal where signals are unavailable.
process.on('message', (msg) => { if (msg === 'shutdown') shutdown('shutdown message'); });
