/**
 * Test/demo harness: deploys examples/app twice (BLUE and GREEN) under a real pm2, in the
 * directory layout of DESIGN.md, inside a root directory of the caller's choosing.
 *
 *   root/
 *     .pm2/                          PM2_HOME of this deployment (its own daemon)
 *     TimeTracking-BLUE/server/      copy of examples/app, .env, database.db, node_modules -> examples/app/node_modules
 *     TimeTracking-GREEN/server/     same for GREEN
 *     database-shared.db             (not created; the inventory's shared_db points here)
 *     bg-backups/                    (not created; the inventory's backups.dir)
 *
 * pm2 facts this relies on: every pm2 CLI call starts a daemon for its PM2_HOME if none runs, so
 * every call here sets PM2_HOME, and stop() runs `pm2 kill`. A pm2 call costs ~140 ms.
 * Safety nets if stop() is never called: a detached watchdog process runs `pm2 kill` once the
 * deploying process is gone (vitest workers die without 'exit' handlers), plus an 'exit' hook.
 *
 * Dependencies: execa and node builtins only (the demo script imports this file too).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

// ------------------------------------------------------------------------------------ types

export type EnvName = 'blue' | 'green';

/** Which migrations to apply before the apps start: all, none, or up to and including one
 *  (a file name such as `001_create_time_entries.sql` or its number prefix such as `001`). */
export type MigrateTo = 'all' | 'none' | (string & {});

export interface DeployOptions {
  /** Directory to deploy into (created if missing). Keep it short: pm2's unix socket
   *  `<root>/.pm2/rpc.sock` must stay under ~100 characters. */
  root: string;
  /** Existing SQLite file copied in as BLUE's database.db before migrating (must not be live). */
  blueDb?: string;
  /** Existing SQLite file copied in as GREEN's database.db before migrating (must not be live). */
  greenDb?: string;
  /** Default 'all' for both. One value for both envs, or per env. */
  migrateTo?: MigrateTo | Partial<Record<EnvName, MigrateTo>>;
  /** Rows POSTed through each app's API once it is healthy (descriptions `seed-<env>-<n>`). */
  seed?: Partial<Record<EnvName, number>>;
  /** Fixed ports; default: two free ports chosen by the OS. */
  ports?: Partial<Record<EnvName, number>>;
  /** pm2 app names; default timetracking-server (blue) and timetracking-green (green). */
  apps?: Partial<Record<EnvName, string>>;
  /** Extra KEY=value lines for each env's .env (e.g. ALLOWED_ORIGINS). */
  dotenv?: Partial<Record<EnvName, Record<string, string>>>;
  /** pm2 exec mode; default 'fork' (what `pm2 start server.js` gives). 'cluster' runs one
   *  instance in cluster mode, where `pm2 reload` is zero-downtime. */
  execMode?: 'fork' | 'cluster';
  /** Where examples/app lives; default: found upward from this file, or $BG_EXAMPLE_APP. */
  appSource?: string;
  /** How long to wait for both health endpoints; default 30 s. */
  healthTimeoutMs?: number;
  /** Progress lines (install notice etc.); default: stderr. */
  log?: (line: string) => void;
}

export interface EnvHandle {
  name: EnvName;
  /** 'BLUE' | 'GREEN' — also the app's APP_ENV is the lower-case name. */
  label: 'BLUE' | 'GREEN';
  /** Absolute: <root>/TimeTracking-BLUE/server */
  dir: string;
  /** pm2 app name */
  app: string;
  port: number;
  /** Absolute path of the env's database (<dir>/database.db); the inventory says `database.db`. */
  db: string;
  /** Absolute path of the env's .env file. */
  envFile: string;
  /** http://127.0.0.1:PORT */
  url: string;
  /** http://127.0.0.1:PORT/api/health */
  health: string;
  /** http://127.0.0.1:PORT/api/entries (POST target for writer()) */
  entries: string;
}

export interface CommandResult {
  command: string;
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface HealthBody {
  status: 'ok' | 'error';
  env: string;
  pid: number;
  port: number;
  /** realpath of the file this process has open (from /proc/self/fd: follows renames) */
  db: string | null;
  /** realpath of DB_PATH as configured, now */
  dbPath: string | null;
  migrations?: number;
  startedAt: string;
  error?: string;
}

export interface HealthResult {
  httpStatus: number;
  body: HealthBody;
}

export interface Pm2Process {
  name: string;
  pm_id: number;
  pid: number;
  status: string;
  restarts: number;
  execMode: string;
  cwd: string;
}

export interface RunOptions {
  /** Throw on a non-zero exit (default true). */
  reject?: boolean;
  /** Extra environment for the command. */
  env?: Record<string, string>;
  timeoutMs?: number;
}

export interface BlueGreen {
  root: string;
  pm2Home: string;
  /** Absolute path of examples/app/node_modules/.bin/pm2 */
  pm2Bin: string;
  /** Directory holding pm2Bin (put it first on PATH) */
  binDir: string;
  /** The examples/app the envs were copied from */
  appSource: string;
  blue: EnvHandle;
  green: EnvHandle;
  env(name: EnvName): EnvHandle;
  /** Run pm2 with this deployment's PM2_HOME, e.g. pm2(['restart', 'timetracking-green', '--update-env']). */
  pm2(args: readonly string[], opts?: RunOptions): Promise<CommandResult>;
  /** `pm2 jlist`, reduced to the fields tests need. */
  jlist(): Promise<Pm2Process[]>;
  /** pid of an env's app according to pm2 (0 when stopped). */
  pid(name: EnvName): Promise<number>;
  /** Run the migrator in an env's dir: `node migrate.js ARGS`, or with viaNpm `npm run migrate:prod`
   *  (the inventory's migrate command). Never throws on a non-zero exit: check exitCode. */
  migrate(name: EnvName, opts?: { args?: readonly string[]; env?: Record<string, string>; viaNpm?: boolean }): Promise<CommandResult>;
  /** GET the env's health endpoint once (throws if nothing answers). */
  health(name: EnvName): Promise<HealthResult>;
  /** Poll until the env answers 200 with its own label (and, if given, a pid other than notPid). */
  waitHealthy(name: EnvName, opts?: { timeoutMs?: number; notPid?: number }): Promise<HealthBody>;
  /** Set KEY=value in the env's .env (replacing an existing KEY line, else appending). */
  setDotenv(name: EnvName, key: string, value: string): Promise<void>;
  /** Environment for a child process (e.g. the bg CLI run against `local`): PM2_HOME and PATH
   *  with the npm pm2 first. Merge into process.env. */
  childEnv(): Record<string, string>;
  /** Shell snippet to put before commands on the host:
   *  `export PM2_HOME='<root>/.pm2'; export PATH='<examples/app/node_modules/.bin>':"$PATH"; ` */
  envPrefix(): string;
  /** { bin, home } of this deployment's pm2, for whatever per-host pm2 setting bg adopts. */
  pm2Config(): { bin: string; home: string };
  /** A host block for bg's inventory (to go under `hosts:`; see inventoryDocument()). `extra` is
   *  deep-merged into the host mapping; a null value removes a key; an `ssh` key replaces `local: true`. */
  inventoryYaml(hostName?: string, extra?: Record<string, unknown>): string;
  /** `pm2 kill` for this PM2_HOME, then waits until the daemon and apps are gone (idempotent;
   *  starts no daemon if none ran). Removes no files. */
  stop(): Promise<void>;
}

// ------------------------------------------------------------------------------------ constants

const HERE = dirname(fileURLToPath(import.meta.url));
const ENVS: readonly EnvName[] = ['blue', 'green'];
const LABEL: Record<EnvName, 'BLUE' | 'GREEN'> = { blue: 'BLUE', green: 'GREEN' };
const DEFAULT_APPS: Record<EnvName, string> = { blue: 'timetracking-server', green: 'timetracking-green' };
/** Variables the app reads; never leak the caller's values into pm2 or the apps. */
const APP_KEYS = ['PORT', 'HOST', 'DB_PATH', 'APP_ENV', 'ALLOWED_ORIGINS', 'MIGRATIONS_DIR'] as const;
/** Files of examples/app not copied into a deployment. */
const SKIP_COPY = new Set(['node_modules', '.env', '.install-lock', 'database.db', 'database.db-wal', 'database.db-shm', 'database.db-journal']);

/** The install command for examples/app: builds better-sqlite3 (allowed by `allowScripts` in
 *  its package.json) from source, ~1-2 min here. */
export const EXAMPLE_APP_INSTALL_COMMAND = ['npm', 'ci', '--no-audit', '--no-fund'] as const;

// ------------------------------------------------------------------------------------ small helpers

function defaultLog(line: string): void {
  process.stderr.write(`[bg harness] ${line}\n`);
}

/** POSIX single-quote a string for sh. */
export function shq(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Locate examples/app: $BG_EXAMPLE_APP, else upward from this file (works from test/harness
 *  in the source tree and from a compiled copy under dist/). */
export function findExampleApp(): string {
  const fromEnv = process.env['BG_EXAMPLE_APP'];
  if (fromEnv) return resolve(fromEnv);
  let dir = HERE;
  for (;;) {
    const candidate = join(dir, 'examples', 'app');
    if (existsSync(join(candidate, 'package.json')) && existsSync(join(candidate, 'server.js'))) return candidate;
    const up = dirname(dir);
    if (up === dir) throw new Error(`examples/app not found above ${HERE}; set BG_EXAMPLE_APP`);
    dir = up;
  }
}

/** process.env without the app's own keys (so the caller's PORT etc. never reach pm2 or the apps). */
function cleanEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue;
    if ((APP_KEYS as readonly string[]).includes(k)) continue;
    if (k === 'PM2_HOME' || k === 'NODE_OPTIONS') continue;
    out[k] = v;
  }
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) out[k] = v;
  return out;
}

async function run(file: string, args: readonly string[], opts: { cwd?: string; env: Record<string, string>; reject?: boolean; timeoutMs?: number }): Promise<CommandResult> {
  const command = [file, ...args].map(shq).join(' ');
  const r = await execa(file, [...args], {
    ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
    env: opts.env,
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    timeout: opts.timeoutMs ?? 60_000,
  });
  const result: CommandResult = {
    command,
    exitCode: typeof r.exitCode === 'number' ? r.exitCode : -1,
    stdout: String(r.stdout ?? ''),
    stderr: String(r.stderr ?? ''),
  };
  if (opts.reject !== false && result.exitCode !== 0) {
    const why = r.timedOut ? 'timed out' : `exit ${result.exitCode}${r.signal ? ` (${r.signal})` : ''}`;
    throw new Error(`${command} failed: ${why}\n${result.stderr || result.stdout}`);
  }
  return result;
}

/** A TCP port free on 127.0.0.1 right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => (port > 0 ? resolvePort(port) : reject(new Error('no port'))));
    });
  });
}

async function copyTree(src: string, dst: string): Promise<void> {
  await mkdir(dst, { recursive: true });
  for (const entry of await readdir(src, { withFileTypes: true })) {
    if (SKIP_COPY.has(entry.name)) continue;
    const from = join(src, entry.name);
    const to = join(dst, entry.name);
    if (entry.isDirectory()) await copyTree(from, to);
    else if (entry.isFile()) await copyFile(from, to);
  }
}

function dotenvLine(key: string, value: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(key)) throw new Error(`invalid .env key: ${key}`);
  if (/[\r\n]/.test(value)) throw new Error(`.env value for ${key} must be one line`);
  // Plain when safe, else single-quoted (literal in the app's parser; no ' allowed inside).
  if (/^[^\s#'"]*$/.test(value)) return `${key}=${value}`;
  if (!value.includes("'")) return `${key}='${value}'`;
  return `${key}="${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

// ------------------------------------------------------------------------------------ install

let installPromise: Promise<void> | null = null;

/**
 * Make sure examples/app/node_modules exists with a working better-sqlite3 and pm2. If it does
 * not, runs `npm ci` there (says so; ~1-2 min: better-sqlite3 builds from source); if the
 * native module does not load (e.g. another Node ABI), runs `npm rebuild better-sqlite3`.
 */
export function ensureExampleApp(appSource: string = findExampleApp(), log: (line: string) => void = defaultLog): Promise<void> {
  installPromise ??= doEnsure(appSource, log).catch((err: unknown) => {
    installPromise = null;
    throw err;
  });
  return installPromise;
}

async function loadsNative(appSource: string): Promise<boolean> {
  const r = await run(process.execPath, ['--input-type=module', '-e',
    "import D from 'better-sqlite3'; new D(':memory:').close();"], { cwd: appSource, env: cleanEnv(), reject: false });
  return r.exitCode === 0;
}

async function doEnsure(appSource: string, log: (line: string) => void): Promise<void> {
  const pm2Bin = join(appSource, 'node_modules', '.bin', 'pm2');
  const lockDir = join(appSource, '.install-lock');
  // `pg` too: an install from before the app's PostgreSQL mode lacks it (npm ci then adds it).
  const installed = (): boolean => existsSync(pm2Bin) && existsSync(join(appSource, 'node_modules', 'better-sqlite3', 'package.json')) && existsSync(join(appSource, 'node_modules', 'pg', 'package.json'));
  if (installed() && (await loadsNative(appSource))) return;

  // Another process (a parallel test file) may be installing: take a directory lock.
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      await mkdir(lockDir);
      break;
    } catch {
      const age = await stat(lockDir).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > 10 * 60_000) await rm(lockDir, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lockDir}`);
      await sleep(1000);
    }
  }
  try {
    if (!installed()) {
      log(`${appSource}/node_modules is missing: running \`${EXAMPLE_APP_INSTALL_COMMAND.join(' ')}\` there (better-sqlite3 builds from source, ~1-2 min)`);
      const t0 = Date.now();
      await run(EXAMPLE_APP_INSTALL_COMMAND[0], EXAMPLE_APP_INSTALL_COMMAND.slice(1), { cwd: appSource, env: cleanEnv(), timeoutMs: 15 * 60_000 });
      log(`examples/app installed in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    }
    if (!(await loadsNative(appSource))) {
      log('better-sqlite3 does not load with this Node: running `npm rebuild better-sqlite3` in examples/app');
      await run('npm', ['rebuild', 'better-sqlite3'], { cwd: appSource, env: cleanEnv(), timeoutMs: 15 * 60_000 });
      if (!(await loadsNative(appSource))) throw new Error('better-sqlite3 still does not load after npm rebuild');
    }
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------------------------ processes

/** Daemon and app pids recorded under PM2_HOME (pm2.pid, pids/*.pid) whose command line names
 *  `root` (so a stale pid file never makes us wait for, or kill, an unrelated process). */
async function pm2Pids(pm2Home: string, root: string): Promise<number[]> {
  const files = [join(pm2Home, 'pm2.pid')];
  const pidDir = join(pm2Home, 'pids');
  for (const f of await readdir(pidDir).catch(() => [] as string[])) if (f.endsWith('.pid')) files.push(join(pidDir, f));
  const pids: number[] = [];
  for (const f of files) {
    const n = Number((await readFile(f, 'utf8').catch(() => '')).trim());
    if (!Number.isInteger(n) || n <= 0) continue;
    const cmdline = await readFile(`/proc/${n}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(root)) pids.push(n);
  }
  return pids;
}

/** Running (a zombie, waiting for its parent to reap it, counts as gone). */
async function running(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
  const st = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return !/^\d+ \(.*\) Z/.test(st);
}

async function waitGone(pids: readonly number[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let left = [...pids];
  while (left.length > 0) {
    const still: number[] = [];
    for (const pid of left) if (await running(pid)) still.push(pid);
    left = still;
    if (left.length === 0) return;
    if (Date.now() > deadline) {
      for (const pid of left) {
        try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      }
      return;
    }
    await sleep(50);
  }
}

// ------------------------------------------------------------------------------------ exit safety net

/**
 * Watchdog: a small detached node process that runs `pm2 kill` for this PM2_HOME when the
 * process that deployed dies without stop() (a vitest worker is torn down without running
 * 'exit' handlers, so the exit hook below alone leaks daemons). stop() ends it.
 */
const WATCHDOG_SOURCE = `
const { spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const [parent, pm2Bin, pm2Home] = process.argv.slice(1);
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch (e) { return e.code === 'EPERM'; } };
setInterval(() => {
  if (alive(Number(parent))) return;
  if (existsSync(pm2Home + '/pm2.pid')) {
    spawnSync(pm2Bin, ['kill'], { env: { ...process.env, PM2_HOME: pm2Home }, stdio: 'ignore', timeout: 30000 });
  }
  process.exit(0);
}, 500);
`;

function startWatchdog(pm2Bin: string, pm2Home: string, env: Record<string, string>): number | undefined {
  const child = spawn(process.execPath, ['-e', WATCHDOG_SOURCE, String(process.pid), pm2Bin, pm2Home], {
    detached: true,
    stdio: 'ignore',
    env,
  });
  child.unref();
  return child.pid;
}

/** Deployments not stopped yet: killed synchronously if the process exits without stop(). */
const live = new Map<string, { pm2Bin: string; env: Record<string, string> }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const { pm2Bin, env } of live.values()) {
      spawnSync(pm2Bin, ['kill'], { env, stdio: 'ignore', timeout: 10_000 });
    }
  });
}

// ------------------------------------------------------------------------------------ YAML (tiny)

function yamlKey(k: string): string {
  return /^[A-Za-z_][A-Za-z0-9_-]*$/.test(k) ? k : JSON.stringify(k);
}

function yamlScalar(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v); // JSON strings are valid YAML double-quoted scalars
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === null) return 'null';
  throw new Error(`cannot write ${typeof v} as YAML`);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Block-style YAML for plain data (objects, arrays, strings, numbers, booleans, null). */
export function toYaml(value: unknown, indent = 0): string {
  const pad = ' '.repeat(indent);
  if (isPlainObject(value)) {
    const keys = Object.keys(value).filter((k) => value[k] !== undefined);
    if (keys.length === 0) return `${pad}{}\n`;
    return keys.map((k) => {
      const v = value[k];
      if ((isPlainObject(v) && Object.keys(v).length > 0) || (Array.isArray(v) && v.length > 0)) {
        return `${pad}${yamlKey(k)}:\n${toYaml(v, indent + 2)}`;
      }
      return `${pad}${yamlKey(k)}: ${isPlainObject(v) ? '{}' : Array.isArray(v) ? '[]' : yamlScalar(v)}\n`;
    }).join('');
  }
  if (Array.isArray(value)) {
    if (value.length === 0) return `${pad}[]\n`;
    return value.map((v) => {
      if (isPlainObject(v) || Array.isArray(v)) {
        const inner = toYaml(v, indent + 2);
        return `${pad}- ${inner.slice(indent + 2)}`;
      }
      return `${pad}- ${yamlScalar(v)}\n`;
    }).join('');
  }
  return `${pad}${yamlScalar(value)}\n`;
}

function deepMerge(base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(extra)) {
    if (v === null) delete out[k];
    else if (isPlainObject(v) && isPlainObject(out[k])) out[k] = deepMerge(out[k] as Record<string, unknown>, v);
    else if (v !== undefined) out[k] = v;
  }
  return out;
}

/** A whole inventory file from host blocks made by inventoryYaml(). */
export function inventoryDocument(...hostBlocks: string[]): string {
  return `hosts:\n${hostBlocks.join('')}`;
}

// ------------------------------------------------------------------------------------ deploy

function migrateTarget(opt: DeployOptions['migrateTo'], env: EnvName): MigrateTo {
  if (opt === undefined) return 'all';
  if (typeof opt === 'string') return opt;
  return opt[env] ?? 'all';
}

/**
 * Deploy examples/app as BLUE and GREEN under a private pm2 in `opts.root` and wait until both
 * answer their health checks. Call stop() when done (an exit hook kills pm2 if you forget, but
 * not when the process is killed by a signal).
 */
export async function deployBlueGreen(opts: DeployOptions): Promise<BlueGreen> {
  const log = opts.log ?? defaultLog;
  const appSource = resolve(opts.appSource ?? findExampleApp());
  await ensureExampleApp(appSource, log);

  const root = resolve(opts.root);
  const pm2Home = join(root, '.pm2');
  if (join(pm2Home, 'rpc.sock').length > 100) {
    throw new Error(`root is too long for pm2's unix socket (${join(pm2Home, 'rpc.sock')}): use a shorter temp dir`);
  }
  const binDir = join(appSource, 'node_modules', '.bin');
  const pm2Bin = join(binDir, 'pm2');
  const pm2Env = cleanEnv({ PM2_HOME: pm2Home });
  await mkdir(root, { recursive: true });

  const bluePort = opts.ports?.blue ?? (await freePort());
  let greenPort = opts.ports?.green ?? (await freePort());
  while (greenPort === bluePort) greenPort = await freePort();
  const ports: Record<EnvName, number> = { blue: bluePort, green: greenPort };

  const makeHandle = (name: EnvName): EnvHandle => {
    const dir = join(root, `TimeTracking-${LABEL[name]}`, 'server');
    const url = `http://127.0.0.1:${ports[name]}`;
    return {
      name,
      label: LABEL[name],
      dir,
      app: opts.apps?.[name] ?? DEFAULT_APPS[name],
      port: ports[name],
      db: join(dir, 'database.db'),
      envFile: join(dir, '.env'),
      url,
      health: `${url}/api/health`,
      entries: `${url}/api/entries`,
    };
  };
  const handles: Record<EnvName, EnvHandle> = { blue: makeHandle('blue'), green: makeHandle('green') };

  const migrate = async (name: EnvName, o: { args?: readonly string[]; env?: Record<string, string>; viaNpm?: boolean } = {}): Promise<CommandResult> => {
    const h = handles[name];
    const env = cleanEnv(o.env ?? {});
    return o.viaNpm
      ? run('npm', ['run', 'migrate:prod', ...(o.args && o.args.length > 0 ? ['--', ...o.args] : [])], { cwd: h.dir, env, reject: false })
      : run(process.execPath, ['migrate.js', ...(o.args ?? [])], { cwd: h.dir, env, reject: false });
  };

  // Lay out both envs.
  for (const name of ENVS) {
    const h = handles[name];
    await rm(h.dir, { recursive: true, force: true });
    await copyTree(appSource, h.dir);
    await symlink(join(appSource, 'node_modules'), join(h.dir, 'node_modules'), 'dir');
    const lines: Record<string, string> = {
      PORT: String(h.port),
      APP_ENV: name,
      DB_PATH: 'database.db',
      ...(opts.dotenv?.[name] ?? {}),
    };
    await writeFile(h.envFile, `# written by test/harness/pm2.ts\n${Object.entries(lines).map(([k, v]) => dotenvLine(k, v)).join('\n')}\n`);
    const seedDb = name === 'blue' ? opts.blueDb : opts.greenDb;
    if (seedDb) await copyFile(resolve(seedDb), h.db);
    const target = migrateTarget(opts.migrateTo, name);
    if (target !== 'none') {
      const r = await migrate(name, { args: target === 'all' ? [] : ['--to', target] });
      if (r.exitCode !== 0) throw new Error(`migrating ${LABEL[name]} (${target}) failed:\n${r.stderr || r.stdout}`);
    }
  }

  // One pm2 call starts both apps (and the daemon).
  const ecosystem = {
    apps: ENVS.map((name) => ({
      name: handles[name].app,
      script: join(handles[name].dir, 'server.js'),
      cwd: handles[name].dir,
      exec_mode: opts.execMode ?? 'fork',
      instances: 1,
      kill_timeout: 5000,
      time: true,
      autorestart: true,
    })),
  };
  await mkdir(pm2Home, { recursive: true });
  const ecosystemFile = join(pm2Home, 'bg-harness.ecosystem.json');
  await writeFile(ecosystemFile, `${JSON.stringify(ecosystem, null, 2)}\n`);

  const pm2 = (args: readonly string[], o: RunOptions = {}): Promise<CommandResult> =>
    run(pm2Bin, args, { env: { ...pm2Env, ...(o.env ?? {}) }, reject: o.reject !== false, timeoutMs: o.timeoutMs ?? 60_000 });

  live.set(pm2Home, { pm2Bin, env: pm2Env });
  installExitHook();
  const watchdogPid = startWatchdog(pm2Bin, pm2Home, pm2Env);
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (watchdogPid !== undefined) {
      try { process.kill(watchdogPid); } catch { /* already gone */ }
    }
    // Only if a daemon could be running: `pm2 kill` on an empty PM2_HOME would start one first.
    if (existsSync(join(pm2Home, 'pm2.pid')) || existsSync(join(pm2Home, 'rpc.sock'))) {
      const pids = await pm2Pids(pm2Home, root);
      await pm2(['kill'], { reject: false, timeoutMs: 30_000 });
      // `pm2 kill` can return while the daemon or an app is still exiting: wait, so that when
      // stop() resolves the processes are gone and the ports are free.
      await waitGone(pids, 10_000);
    }
    live.delete(pm2Home);
  };

  const health = async (name: EnvName): Promise<HealthResult> => {
    const res = await fetch(handles[name].health, { signal: AbortSignal.timeout(2000) });
    const body = (await res.json()) as HealthBody;
    return { httpStatus: res.status, body };
  };

  const waitHealthy = async (name: EnvName, o: { timeoutMs?: number; notPid?: number } = {}): Promise<HealthBody> => {
    const deadline = Date.now() + (o.timeoutMs ?? opts.healthTimeoutMs ?? 30_000);
    let last = 'no answer';
    for (;;) {
      try {
        const { httpStatus, body } = await health(name);
        if (httpStatus === 200 && body.env === name && (o.notPid === undefined || body.pid !== o.notPid)) return body;
        last = `HTTP ${httpStatus} ${JSON.stringify(body)}`;
      } catch (err) {
        last = err instanceof Error ? `${err.message}${err.cause instanceof Error ? `: ${err.cause.message}` : ''}` : String(err);
      }
      if (Date.now() > deadline) {
        const logs = await pm2(['logs', handles[name].app, '--nostream', '--lines', '20'], { reject: false });
        throw new Error(`${LABEL[name]} (${handles[name].health}) not healthy: ${last}\n${logs.stdout}`);
      }
      await sleep(100);
    }
  };

  const jlist = async (): Promise<Pm2Process[]> => {
    const r = await pm2(['jlist']);
    // jlist prints one JSON line; pm2 may print notices ("[PM2] ...") around it.
    const line = r.stdout.split('\n').reverse().find((l) => /^\[(\{|\])/.test(l.trim()));
    if (line === undefined) throw new Error(`pm2 jlist printed no process list:\n${r.stdout}\n${r.stderr}`);
    const raw = JSON.parse(line) as Array<{
      name: string; pm_id: number; pid: number;
      pm2_env?: { status?: string; restart_time?: number; exec_mode?: string; pm_cwd?: string };
    }>;
    return raw.map((p) => ({
      name: p.name,
      pm_id: p.pm_id,
      pid: p.pid,
      status: p.pm2_env?.status ?? 'unknown',
      restarts: p.pm2_env?.restart_time ?? 0,
      execMode: p.pm2_env?.exec_mode ?? 'unknown',
      cwd: p.pm2_env?.pm_cwd ?? '',
    }));
  };

  const bg: BlueGreen = {
    root,
    pm2Home,
    pm2Bin,
    binDir,
    appSource,
    blue: handles.blue,
    green: handles.green,
    env: (name) => handles[name],
    pm2,
    jlist,
    pid: async (name) => (await jlist()).find((p) => p.name === handles[name].app)?.pid ?? 0,
    migrate,
    health,
    waitHealthy,
    setDotenv: async (name, key, value) => {
      const file = handles[name].envFile;
      const text = await readFile(file, 'utf8').catch(() => '');
      const line = dotenvLine(key, value);
      const re = new RegExp(`^(export\\s+)?${key.replace(/[.]/g, '\\.')}\\s*=.*$`, 'm');
      const next = re.test(text) ? text.replace(re, line) : `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}${line}\n`;
      await writeFile(file, next);
    },
    childEnv: () => ({ PM2_HOME: pm2Home, PATH: `${binDir}:${process.env['PATH'] ?? '/usr/bin:/bin'}` }),
    envPrefix: () => `export PM2_HOME=${shq(pm2Home)}; export PATH=${shq(binDir)}:"$PATH"; `,
    pm2Config: () => ({ bin: pm2Bin, home: pm2Home }),
    inventoryYaml: (hostName = 'local', extra = {}) => {
      const envBlock = (h: EnvHandle): Record<string, unknown> => ({
        dir: h.dir,
        app: h.app,
        port: h.port,
        db: 'database.db',
        health: h.health,
        migrate: 'npm run migrate:prod',
      });
      let host: Record<string, unknown> = {
        local: true,
        envs: { blue: envBlock(handles.blue), green: envBlock(handles.green) },
        shared_db: join(root, 'database-shared.db'),
        backups: { dir: join(root, 'bg-backups'), keep: 20 },
      };
      if ('ssh' in extra && extra['ssh'] !== null) delete host['local'];
      host = deepMerge(host, extra);
      return toYaml({ [hostName]: host }, 2);
    },
    stop,
  };

  try {
    await pm2(['start', ecosystemFile]);
    await Promise.all(ENVS.map((name) => waitHealthy(name)));
    for (const name of ENVS) {
      const n = opts.seed?.[name] ?? 0;
      for (let i = 1; i <= n; i++) {
        const res = await fetch(handles[name].entries, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ description: `seed-${name}-${i}`, minutes: i }),
        });
        if (res.status !== 201) throw new Error(`seeding ${LABEL[name]}: HTTP ${res.status} ${await res.text()}`);
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return bg;
}

// ------------------------------------------------------------------------------------ writer

export interface WriterOptions {
  /** Pause between requests of one lane, ms (default 2). */
  intervalMs?: number;
  /** Parallel request lanes (default 1). */
  concurrency?: number;
  /** Description prefix; each write is `<tag>-<seq>` (default `w<random>`). */
  tag?: string;
  /** Stops by itself after this many requests (default 100 000). */
  maxRequests?: number;
  /** Stops by itself after this long (default 120 s). */
  maxDurationMs?: number;
  /** Per-request timeout (default 5 s). */
  requestTimeoutMs?: number;
}

export interface AckedWrite {
  id: number;
  description: string;
  /** APP_ENV of the app that acknowledged it */
  env: string;
  /** Date.now() when the 201 arrived */
  at: number;
}

export interface WriterReport {
  url: string;
  acked: AckedWrite[];
  ids: number[];
  attempts: number;
  /** Requests that got no 201: connection refused/reset, timeouts, HTTP errors. A request that
   *  failed after it was sent may still have been committed: only `acked` is a promise. */
  failures: number;
  failuresByReason: Record<string, number>;
  durationMs: number;
  stoppedBy: 'stop' | 'maxRequests' | 'maxDuration';
}

export interface Writer {
  readonly url: string;
  /** Acknowledged writes so far (live). */
  readonly acked: readonly AckedWrite[];
  readonly attempts: number;
  readonly failures: number;
  /** Resolves once at least n writes were acknowledged (rejects after timeoutMs, default 10 s). */
  waitForAcks(n: number, timeoutMs?: number): Promise<void>;
  /** Stop the loop, wait for requests in flight, and report. */
  stop(): Promise<WriterReport>;
  /** Settles when the writer stops, by stop() or by its own limits. */
  readonly done: Promise<WriterReport>;
}

/**
 * A continuous writer: POSTs `{description, minutes}` to `url` (an entries URL, or a base URL to
 * which /api/entries is added) in a loop and records every acknowledged (201) id until stopped.
 * Bounded in count and time so it always ends by itself.
 */
export function writer(url: string, opts: WriterOptions = {}): Writer {
  const target = /\/api\/entries\/?$/.test(url) ? url : `${url.replace(/\/+$/, '')}/api/entries`;
  const intervalMs = opts.intervalMs ?? 2;
  const lanes = Math.max(1, opts.concurrency ?? 1);
  const tag = opts.tag ?? `w${Math.random().toString(36).slice(2, 8)}`;
  const maxRequests = opts.maxRequests ?? 100_000;
  const maxDurationMs = opts.maxDurationMs ?? 120_000;
  const requestTimeoutMs = opts.requestTimeoutMs ?? 5000;

  const acked: AckedWrite[] = [];
  const failuresByReason: Record<string, number> = {};
  let attempts = 0;
  let failures = 0;
  let seq = 0;
  let stopping = false;
  let stoppedBy: WriterReport['stoppedBy'] = 'stop';
  const t0 = Date.now();
  const waiters: Array<{ n: number; resolve: () => void }> = [];

  const fail = (reason: string): void => {
    failures++;
    failuresByReason[reason] = (failuresByReason[reason] ?? 0) + 1;
  };

  const lane = async (): Promise<void> => {
    while (!stopping) {
      if (attempts >= maxRequests) { stoppedBy = 'maxRequests'; stopping = true; break; }
      if (Date.now() - t0 >= maxDurationMs) { stoppedBy = 'maxDuration'; stopping = true; break; }
      attempts++;
      const description = `${tag}-${++seq}`;
      try {
        const res = await fetch(target, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ description, minutes: seq % 480 }),
          signal: AbortSignal.timeout(requestTimeoutMs),
        });
        const text = await res.text();
        if (res.status === 201) {
          const body = JSON.parse(text) as { id?: unknown; env?: unknown };
          if (typeof body.id === 'number') {
            acked.push({ id: body.id, description, env: typeof body.env === 'string' ? body.env : '', at: Date.now() });
            for (let i = waiters.length - 1; i >= 0; i--) {
              const w = waiters[i];
              if (w && acked.length >= w.n) { waiters.splice(i, 1); w.resolve(); }
            }
          } else fail('201 without id');
        } else fail(`HTTP ${res.status}`);
      } catch (err) {
        const e = err as { name?: string; code?: string; cause?: { code?: string; name?: string } };
        fail(e.name === 'TimeoutError' ? 'timeout' : e.cause?.code ?? e.code ?? e.cause?.name ?? e.name ?? 'error');
        await sleep(Math.max(intervalMs, 20)); // don't spin while the app is down
      }
      if (intervalMs > 0) await sleep(intervalMs);
    }
  };

  const done: Promise<WriterReport> = Promise.all(Array.from({ length: lanes }, lane)).then(() => ({
    url: target,
    acked: [...acked],
    ids: acked.map((a) => a.id),
    attempts,
    failures,
    failuresByReason: { ...failuresByReason },
    durationMs: Date.now() - t0,
    stoppedBy,
  }));

  return {
    url: target,
    get acked() { return acked; },
    get attempts() { return attempts; },
    get failures() { return failures; },
    waitForAcks: (n, timeoutMs = 10_000) => {
      if (acked.length >= n) return Promise.resolve();
      return new Promise<void>((resolveWait, reject) => {
        const timer = setTimeout(() => reject(new Error(`writer: ${acked.length}/${n} acknowledged writes after ${timeoutMs} ms (${failures} failures: ${JSON.stringify(failuresByReason)})`)), timeoutMs);
        waiters.push({ n, resolve: () => { clearTimeout(timer); resolveWait(); } });
      });
    },
    stop: () => {
      stopping = true;
      return done;
    },
    done,
  };
}
