import { z } from 'zod';
import { duration } from '../plan/duration.js';

/** The longest wait in seconds a timer can take (see plan/duration.ts). */
const MAX_TIMER_SECONDS = 24 * 24 * 3600;

const scalar = z.union([z.string(), z.number(), z.boolean()]);

/**
 * A variable's value: a plain value, or `{ env: NAME }` read from bg's environment at plan time;
 * `secret: true` keeps it out of every plan, journal and output (see README, Secrets).
 */
export const varValue = z.union([
  scalar,
  z.object({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name'), secret: z.boolean().default(false) }).strict(),
  z.object({ value: scalar, secret: z.literal(true) }).strict(),
]);
export type VarValue = z.output<typeof varValue>;

// Names are used in templates (`{{ blue.dir }}`) and file names: keep them plain.
const name = z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, 'use letters, digits, _ and -');

/**
 * A PostgreSQL database, used by the client tools on the host (psql, pg_dump, pg_restore). Each value
 * reaches them as PGHOST/PGPORT/PGDATABASE/PGUSER in the call, never inside SQL. The password is no
 * value here: `password_var` names a host or playbook variable declared `secret: true` (so it travels
 * as every secret does: on stdin, redacted, never in a plan or journal); without it libpq uses the
 * host's ~/.pgpass, or `service` (PGSERVICE, ~/.pg_service.conf).
 */
export const pgDbSchema = z
  .object({
    postgres: z
      .object({
        host: z.string().min(1).optional().describe('Server address or a unix socket directory (PGHOST); default: libpq\'s'),
        port: z.number().int().min(1).max(65535).optional().describe('Server port (PGPORT); default 5432'),
        database: z.string().min(1).describe('Database name (PGDATABASE)'),
        user: z.string().min(1).optional().describe('Role to connect as (PGUSER); default: the login user'),
        password_var: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a variable name: letters, digits and _').optional().describe('A variable declared `secret: true` holding the password (PGPASSWORD); default: ~/.pgpass on the host'),
        service: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'a service name from pg_service.conf').optional().describe('PGSERVICE on the host'),
        idle_in_transaction_max: duration.optional().describe("Pre-flight fails when a session idle in a transaction longer than this holds a lock on the database's tables; default 30s (see README, PostgreSQL pre-flight)"),
      })
      .strict(),
  })
  .strict();
export type PgDbConfig = z.output<typeof pgDbSchema>['postgres'];

/** A name of `dbs:`: it ends up in backup file names (`ENV-RUNID.NAME.db`) and templates (`{{ env.dbs.NAME }}`). */
export const DB_NAME = /^[a-z][a-z0-9_]{0,31}$/;

/** `dbs:` of an env: several SQLite files, the first the default. PostgreSQL stays one `db: { postgres: ... }`. */
export const dbsSchema = z
  .record(
    // Names are checked below, each at its own key (a record's key error would not say why).
    z.string(),
    z.string({ error: (i) => (i.input !== null && typeof i.input === 'object' ? '`dbs:` entries are SQLite paths only (a PostgreSQL database is `db: { postgres: ... }`, one per env)' : 'a SQLite path (relative to dir unless absolute)') }).min(1),
  )
  .superRefine((m, ctx) => {
    if (Object.keys(m).length === 0) ctx.addIssue({ code: 'custom', message: '`dbs:` needs at least one database (NAME: PATH)' });
    for (const k of Object.keys(m))
      if (!DB_NAME.test(k)) ctx.addIssue({ code: 'custom', path: [k], message: `\`${k}\` is no database name: a lowercase letter, then lowercase letters, digits and _ (at most 32; it ends up in backup file names)` });
  });

export const envSchema = z
  .object({
    dir: z.string().min(1).describe('Directory the app runs in (absolute, or ~/ for the login user home)'),
    app: z.string().min(1).optional().describe('pm2 app name'),
    port: z.number().int().min(1).max(65535).optional().describe('Port the app listens on'),
    db: z.union([z.string().min(1), pgDbSchema]).optional().describe('SQLite database (a path, relative to dir unless absolute) or `{ postgres: {...} }`'),
    dbs: dbsSchema.optional().describe('Several SQLite databases: NAME -> path (relative to dir unless absolute); the first is the default (what `db` means). Not with `db:`'),
    health: z.string().url().optional().describe('URL fetched from the host by the health action'),
    migrate: z.string().min(1).optional().describe('Command run in dir by the migrate action'),
    migrations_dir: z.string().min(1).optional().describe("Where the migrate action's lint gate finds the SQL migration files, in dir (default: migrations)"),
    env_file: z.string().min(1).default('.env').describe('dotenv file, relative to dir unless absolute'),
  })
  .strict();

export const sshSchema = z
  .object({
    host: z.string().min(1).describe('Address or an alias from ~/.ssh/config'),
    port: z.number().int().min(1).max(65535).optional(),
    user: z.string().min(1).optional(),
    key: z.string().min(1).optional().describe('Private key file (~ expanded)'),
    fingerprint: z
      .string()
      .regex(/^SHA256:[A-Za-z0-9+/]+=*$/, 'expected SHA256:<base64> as printed by ssh-keygen -lf')
      .optional()
      .describe('Pinned host key fingerprint; replaces the known_hosts check'),
    // Bounded: a Node timer longer than 2^31-1 ms (~24.8 days) fires at once.
    connect_timeout: z.number().positive().max(MAX_TIMER_SECONDS, `at most ${MAX_TIMER_SECONDS} seconds (24 days)`).optional().describe('Seconds to wait for the connection'),
    command_timeout: z.number().positive().max(MAX_TIMER_SECONDS, `at most ${MAX_TIMER_SECONDS} seconds (24 days)`).optional().describe('Seconds any one command may run'),
  })
  .strict();

// HAProxy reads these paths from its own config: it expands no `~` (absolute paths only), and a
// space, quote, `$` or `#` would change what its config line means (plain characters only).
const absolute = z.string().regex(/^\/[A-Za-z0-9._/+@-]+$/, 'an absolute path of letters, digits and . _ / + @ - (HAProxy does not expand ~; other characters would change its config line)');

/**
 * A proxy in front of the colors: users keep `live_port` (and `preview_port` for the idle color);
 * the envs' `port`s are the apps' own loopback ports. bg generates its config (src/plan/haproxy-config.ts).
 */
export const proxySchema = z
  .object({
    kind: z.literal('haproxy').describe('The proxy: HAProxy (Debian package `haproxy`)'),
    live_port: z.number().int().min(1).max(65535).describe('Public port routed to the live color'),
    preview_port: z.number().int().min(1).max(65535).describe('Public port routed to the idle color (smoke tests before a switch)'),
    bind: z.string().regex(/^[0-9A-Za-z.:*\[\]-]+$/, 'an address: 0.0.0.0, 127.0.0.1, ::, *').default('*').describe('Address the public ports listen on'),
    colors: z.tuple([name, name]).default(['blue', 'green']).describe('The two envs traffic switches between'),
    config: absolute.describe('HAProxy configuration file bg writes'),
    map: absolute.describe('Map file naming the live and preview colors (rewritten atomically on every switch)'),
    socket: absolute.describe('HAProxy admin socket (bg switches through it)'),
    run: z
      .discriminatedUnion('kind', [
        z.object({ kind: z.literal('pm2'), app: z.string().min(1).describe('pm2 app running `haproxy -W -db -f CONFIG`') }).strict(),
        z.object({ kind: z.literal('systemd'), unit: z.string().min(1).default('haproxy').describe('systemd unit (reloaded with sudo -n systemctl reload)') }).strict(),
      ])
      .describe('How HAProxy runs: under pm2 as the login user, or as a systemd service'),
    color_header: z.string().regex(/^[A-Za-z0-9-]+$/, 'a header name').optional().describe('Response header in which the app names its color (checked after a switch)'),
    // HAProxy retries a refused connection after min(timeout connect, 1 s): the hold window is
    // retries x that (measured, NOTES.md). share-db refuses to freeze writes for longer.
    hold: z
      .object({
        retries: z.number().int().min(1).max(1000).default(50).describe('HAProxy `retries`: connection attempts per request while an app is down'),
        connect_timeout_ms: z.number().int().min(10).max(60_000).default(200).describe('HAProxy `timeout connect` in ms (the wait between attempts is this, at most 1 s)'),
      })
      .strict()
      .default({ retries: 50, connect_timeout_ms: 200 })
      .describe('How long HAProxy holds a request while the app is down: retries x min(connect_timeout_ms, 1000)'),
    // What the public ports answer during a maintenance window (the `maintenance` playbook): HAProxy
    // reads the page when it loads its configuration, so a changed page needs `bg run proxy`.
    maintenance: z
      .object({
        page: absolute.optional().describe('HTML file on the host answered with the 503 (at most 12 KiB: it must fit HAProxy\'s buffer); default: a short built-in page'),
        retry_after: z.number().int().min(1).max(86_400).default(60).describe('Retry-After header of the maintenance 503, in seconds'),
      })
      .strict()
      .default({ retry_after: 60 })
      .describe('The maintenance response (503, Retry-After, a page) the public ports give during a maintenance window'),
  })
  .strict();

/**
 * How `bg release` (the `release` playbook) ships code to a color: each color keeps its releases in
 * `DIR/releases/<id>` and runs the one `DIR/current` points at (its pm2 app: `DIR/current/SCRIPT`, cwd DIR).
 */
export const releaseSchema = z
  .object({
    repo: z.string().min(1).optional().describe('Git repository the host fetches a --ref from (URL or path on the host)'),
    install: z.string().min(1).default('npm ci --omit=dev').describe('Installs dependencies in the release directory (a lockfile is required)'),
    script: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9._/-]*$/, 'a relative path of letters, digits and . _ / -').refine((s) => !s.split('/').includes('..'), 'no `..`').default('server.js').describe("The app's entry point inside a release (pm2 runs DIR/current/SCRIPT)"),
    keep: z.number().int().min(1).max(1000).default(5).describe('Releases kept per color besides those in use'),
    color: name.optional().describe('Without a proxy: the env releases go to (default: the second env)'),
  })
  .strict();

export const hostSchema = z
  .object({
    local: z.literal(true).optional().describe('Run on this machine, without SSH'),
    ssh: sshSchema.optional(),
    envs: z.record(name, envSchema).default({}),
    shared_db: z
      .union([z.string().min(1), z.object({ postgres: z.object({ database: z.string().min(1).describe('The shared database, on the envs\' server (made by share-db from the base)') }).strict() }).strict()])
      .optional()
      .describe('Where share-db puts the envs\' shared database: a SQLite path, or `{ postgres: { database } }` for PostgreSQL envs'),
    backups: z
      .object({
        dir: z.string().min(1),
        keep: z.number().int().min(1).default(20),
        copy_to: z.string().min(1).optional().describe('A directory on the machine running bg: every backup step also copies its backup to COPY_TO/HOST/ENV-RUNID.db (sha256 checked); relative to the current directory, ~ expanded'),
      })
      .strict()
      .optional(),
    journal: z.string().min(1).default('~/.bg').describe('Directory on the host for journals and the lock'),
    vars: z.record(name, varValue).default({}),
    // A `:` would make one entry two directories in PATH (the value would stop being one path).
    path: z.array(z.string().min(1).regex(/^[^:]*$/, 'a directory for PATH cannot contain `:` (give each directory as its own entry)')).default([]).describe('Directories put in front of PATH for every command (e.g. where nvm put node)'),
    environment: z
      .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a variable name'), z.union([z.string(), z.number()]))
      .default({})
      .describe('Variables exported for every command on the host (e.g. PM2_HOME); sshd drops client-side variables'),
    proxy: proxySchema.optional().describe('HAProxy in front of the colors (bg switch, live/idle)'),
    release: releaseSchema.optional().describe('Releases of new code to the idle color (bg release)'),
  })
  .strict();

/** Rules across fields, checked after the shape so that all problems are reported together. */
export function hostProblems(h: HostConfig): Array<{ field: string[]; message: string }> {
  if (!h.local && !h.ssh) return [{ field: [], message: 'a host needs `ssh:` or `local: true`' }];
  if (h.local && h.ssh) return [{ field: ['local'], message: '`local: true` and `ssh:` exclude each other' }];
  return [...dbsProblems(h), ...pgProblems(h), ...(h.proxy ? proxyProblems(h.proxy, h.envs) : []), ...(h.release?.color !== undefined && !Object.hasOwn(h.envs, h.release.color) ? [{ field: ['release', 'color'], message: `unknown env \`${h.release.color}\` (host has: ${Object.keys(h.envs).join(', ') || 'no envs'})` }] : [])];
}

/** `db:` and `dbs:` exclude each other (`db: PATH` alone is one database named `db`). */
function dbsProblems(h: HostConfig): Array<{ field: string[]; message: string }> {
  return Object.entries(h.envs)
    .filter(([, e]) => e.db !== undefined && e.dbs !== undefined)
    .map(([envName]) => ({ field: ['envs', envName, 'dbs'], message: `env \`${envName}\` has both \`db:\` and \`dbs:\`: give its databases in \`dbs:\` only (the first is the default)` }));
}

/** A PostgreSQL env's `password_var` names a secret of the host's vars (the password never sits in the inventory). */
function pgProblems(h: HostConfig): Array<{ field: string[]; message: string }> {
  const out: Array<{ field: string[]; message: string }> = [];
  for (const [envName, e] of Object.entries(h.envs)) {
    const v = typeof e.db === 'object' ? e.db.postgres.password_var : undefined;
    if (v === undefined) continue;
    const decl = Object.hasOwn(h.vars, v) ? h.vars[v] : undefined;
    const field = ['envs', envName, 'db', 'postgres', 'password_var'];
    if (decl === undefined) out.push({ field, message: `no host variable \`${v}\`: declare it in this host's vars, e.g. \`${v}: { env: PGPASSWORD_PROD, secret: true }\`` });
    else if (typeof decl !== 'object' || decl.secret !== true) out.push({ field, message: `host variable \`${v}\` holds a password: declare it \`secret: true\`` });
  }
  return out;
}

/** A proxy needs two distinct colors with their own ports, none of them a public port. */
function proxyProblems(p: ProxyConfig, envs: HostConfig['envs']): Array<{ field: string[]; message: string }> {
  const out: Array<{ field: string[]; message: string }> = [];
  if (p.live_port === p.preview_port) out.push({ field: ['proxy', 'preview_port'], message: '`preview_port` must differ from `live_port`' });
  if (p.colors[0] === p.colors[1]) out.push({ field: ['proxy', 'colors'], message: 'the two colors must be different envs' });
  const files = [p.config, p.map, p.socket];
  if (new Set(files).size !== files.length) out.push({ field: ['proxy'], message: '`config`, `map` and `socket` must be different files' });
  p.colors.forEach((c, i) => {
    const env = Object.hasOwn(envs, c) ? envs[c] : undefined;
    if (!env) out.push({ field: ['proxy', 'colors', String(i)], message: `unknown env \`${c}\` (host has: ${Object.keys(envs).join(', ') || 'no envs'})` });
    else if (env.port === undefined) out.push({ field: ['envs', c, 'port'], message: `env \`${c}\` needs \`port\` (its own loopback port) behind the proxy` });
    else if (env.port === p.live_port || env.port === p.preview_port)
      out.push({ field: ['envs', c, 'port'], message: `env \`${c}\` listens on ${env.port}, a public port of the proxy: give the app its own port` });
  });
  return out;
}

export const inventorySchema = z
  .object({
    hosts: z.record(name, hostSchema),
    groups: z.record(name, z.array(name).min(1)).default({}),
  })
  .strict();

export type EnvConfig = z.output<typeof envSchema>;
export type SshConfig = z.output<typeof sshSchema>;
export type HostConfig = z.output<typeof hostSchema>;
export type ProxyConfig = z.output<typeof proxySchema>;
export type ReleaseConfig = z.output<typeof releaseSchema>;
export type Inventory = z.output<typeof inventorySchema>;
