// Minimal .env loader (no dependency). Semantics:
//   - KEY=value lines; blank lines and lines starting with # are ignored; an optional
//     leading `export ` is accepted.
//   - Unquoted values are trimmed and lose a trailing ` # comment`.
//   - 'single quoted' values are literal; "double quoted" values understand \n \r \t \" \\.
//   - Values from .env OVERRIDE variables inherited from the environment for the keys the
//     file names. The .env file is the single source of truth for this app: whoever runs
//     `pm2 restart --update-env` (or plain `pm2 restart`) from whatever shell, the restarted
//     process reads the file again at startup and gets exactly the file's values. Keys the
//     file does not name still come from the environment (e.g. MIGRATIONS_DIR in tests).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const KEY_RE = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** Parse .env text into a plain object. Invalid lines are ignored. */
export function parseEnv(text) {
  const out = {};
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('export ')) line = line.slice(7).trimStart();
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq).trim();
    if (!KEY_RE.test(key)) continue;
    let value = line.slice(eq + 1).trim();
    const q = value[0];
    if ((q === '"' || q === "'") && value.length >= 2) {
      const end = findClosingQuote(value, q);
      if (end > 0) {
        value = value.slice(1, end);
        if (q === '"') {
          value = value.replace(/\\([nrt"\\])/g, (_, c) =>
            c === 'n' ? '\n' : c === 'r' ? '\r' : c === 't' ? '\t' : c);
        }
        out[key] = value;
        continue;
      }
    }
    const hash = value.search(/\s#/);
    if (hash >= 0) value = value.slice(0, hash).trimEnd();
    out[key] = value;
  }
  return out;
}

function findClosingQuote(value, q) {
  for (let i = 1; i < value.length; i++) {
    if (q === '"' && value[i] === '\\') { i++; continue; }
    if (value[i] === q) return i;
  }
  return -1;
}

/**
 * Load `<cwd>/.env` into process.env (file values win). Returns the parsed object;
 * a missing file is not an error.
 */
export function loadEnvFile(file = resolve(process.cwd(), '.env')) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err && err.code === 'ENOENT') return {};
    throw err;
  }
  const parsed = parseEnv(text);
  for (const [k, v] of Object.entries(parsed)) process.env[k] = v;
  return parsed;
}

/** The app's configuration, after loadEnvFile(). */
export function config(env = process.env) {
  const port = Number.parseInt(env.PORT ?? '3000', 10);
  return {
    port: Number.isFinite(port) ? port : 3000,
    host: env.HOST || undefined, // unset: all interfaces (IPv4 and IPv6), like most apps
    dbPath: resolve(process.cwd(), env.DB_PATH || 'database.db'),
    allowedOrigins: env.ALLOWED_ORIGINS ?? '',
    appEnv: env.APP_ENV ?? '',
    // The color this copy runs as, named in every response (X-App-Color) and in /api/health.
    color: env.APP_COLOR ?? env.APP_ENV ?? '',
    // PostgreSQL instead of SQLite when DATABASE_URL or PGDATABASE is set (PG* variables are read
    // by `pg` itself). application_name: PGAPPNAME, else `bg-APP_ENV` (what bg's share-db checks).
    pg: env.DATABASE_URL || env.PGDATABASE
      ? { url: env.DATABASE_URL || undefined, applicationName: env.PGAPPNAME || `bg-${env.APP_ENV || 'app'}` }
      : null,
  };
}
