import type { HostConfig, PgDbConfig, ProxyConfig, ReleaseConfig, VarValue } from '../config/inventory-schema.js';
import { joinPath, quotePath } from './quote.js';
import type { PathValue, TemplateScope } from './template.js';

/** An env with every path resolved against its dir (paths stay host-side strings). */
export interface ResolvedEnv {
  name: string;
  dir: string;
  app?: string;
  port?: number;
  /** The SQLite database file (absent for a PostgreSQL env). */
  db?: string;
  /**
   * Every SQLite database of the env, the default first (its path is `db`): `dbs:` in the
   * inventory, or `db: PATH` as one database named `db`; empty for PostgreSQL or no database.
   */
  dbs: EnvDb[];
  /** The PostgreSQL database (`db: { postgres: ... }`), instead of `db`. */
  pg?: PgDbConfig;
  health?: string;
  migrate?: string;
  /** The SQL migration files the migrate gate lints, in dir (`migrations_dir`, else the action's default). */
  migrationsDir?: string;
  envFile: string;
}

/** One SQLite database of an env: its name (`dbs:` key, or `db`) and resolved path. */
export interface EnvDb {
  name: string;
  path: string;
}

export interface ResolvedHost {
  name: string;
  transport: 'local' | 'ssh';
  target: string;
  envs: Record<string, ResolvedEnv>;
  sharedDb?: string;
  /** The shared PostgreSQL database's name (`shared_db: { postgres: { database } }`), on the envs' server. */
  sharedPg?: string;
  backups?: { dir: string; keep: number; copy_to?: string };
  journal: string;
  vars: Record<string, VarValue>;
  /** `export ...;` put before every command on the host, or '' (from `path:` and `environment:`). */
  commandPrefix: string;
  proxy?: ProxyConfig;
  /** How code is released to a color (`release:` in the inventory). */
  release?: ReleaseConfig;
  /**
   * The color live on the host's proxy, read from the host before planning (src/run/proxy-state.ts)
   * and passed in as data: the planner does no I/O. Undefined without a proxy, or when not read.
   */
  live?: string;
}

/** Resolve an inventory host into the model actions build commands from. */
export function resolveHost(name: string, cfg: HostConfig, live?: string): ResolvedHost {
  const envs: Record<string, ResolvedEnv> = {};
  for (const [envName, e] of Object.entries(cfg.envs)) {
    const dbs = envDbs(e.dir, e.db, e.dbs);
    envs[envName] = {
      name: envName,
      dir: e.dir,
      app: e.app,
      port: e.port,
      db: dbs[0]?.path,
      dbs,
      ...(typeof e.db === 'object' ? { pg: e.db.postgres } : {}),
      health: e.health,
      migrate: e.migrate,
      ...(e.migrations_dir !== undefined ? { migrationsDir: e.migrations_dir } : {}),
      envFile: joinPath(e.dir, e.env_file),
    };
  }
  const target = cfg.ssh
    ? `${cfg.ssh.user ? cfg.ssh.user + '@' : ''}${cfg.ssh.host}${cfg.ssh.port ? ':' + cfg.ssh.port : ''}`
    : 'this machine';
  return {
    name,
    transport: cfg.local ? 'local' : 'ssh',
    target,
    envs,
    sharedDb: typeof cfg.shared_db === 'string' ? cfg.shared_db : undefined,
    ...(typeof cfg.shared_db === 'object' ? { sharedPg: cfg.shared_db.postgres.database } : {}),
    backups: cfg.backups,
    journal: cfg.journal,
    vars: cfg.vars,
    commandPrefix: commandPrefix(cfg),
    ...(cfg.proxy ? { proxy: cfg.proxy, ...(live !== undefined ? { live } : {}) } : {}),
    ...(cfg.release ? { release: cfg.release } : {}),
  };
}

/**
 * An env's databases, the default first. resolveHost always sets `dbs`; an env written by hand
 * (tests, older callers) may lack it: its `db` is then the one database, named `db`.
 */
export function dbsOf(env: ResolvedEnv): EnvDb[] {
  return (env as Partial<ResolvedEnv>).dbs ?? (env.db === undefined ? [] : [{ name: 'db', path: env.db }]);
}

/** An env's SQLite databases, the default first: `dbs:` in order, or `db: PATH` as one named `db`. */
function envDbs(dir: string, db: HostConfig['envs'][string]['db'], dbs: Record<string, string> | undefined): EnvDb[] {
  if (dbs) return Object.entries(dbs).map(([name, p]) => ({ name, path: joinPath(dir, p) }));
  return typeof db === 'string' ? [{ name: 'db', path: joinPath(dir, db) }] : [];
}

/** The live and idle colors' envs, when the host has a proxy and its live color is known. */
export function liveAndIdle(host: ResolvedHost): { live: ResolvedEnv; idle: ResolvedEnv } | undefined {
  if (!host.proxy || host.live === undefined) return undefined;
  const [a, b] = host.proxy.colors;
  const idle = host.live === a ? b : host.live === b ? a : undefined;
  const live = host.envs[host.live];
  return idle !== undefined && live && host.envs[idle] ? { live, idle: host.envs[idle] } : undefined;
}

/** Without a proxy, the env a host with `release:` releases to: `release.color`, else its second env. */
export function releaseIdle(host: ResolvedHost): ResolvedEnv | undefined {
  if (host.proxy || !host.release) return undefined;
  const name = host.release.color ?? Object.keys(host.envs)[1];
  return name !== undefined && Object.hasOwn(host.envs, name) ? host.envs[name] : undefined;
}

/** Variables travel inside the command: sshd drops the client's environment (no AcceptEnv). */
function commandPrefix(cfg: HostConfig): string {
  const assignments = Object.entries(cfg.environment).map(([k, v]) => `${k}=${quotePath(String(v))}`);
  if (cfg.path.length) assignments.push(`PATH=${cfg.path.map(quotePath).join(':')}:"$PATH"`);
  return assignments.length ? `export ${assignments.join(' ')}; ` : '';
}

const path = (p: string | undefined): PathValue | undefined => (p === undefined ? undefined : { kind: 'path', path: p });

function envScope(e: ResolvedEnv): TemplateScope {
  return {
    name: e.name,
    dir: path(e.dir),
    app: e.app,
    port: e.port,
    db: path(e.db),
    // `{{ env.dbs.NAME }}`: each database's path, quoted like `db`.
    dbs: Object.fromEntries(dbsOf(e).map((d) => [d.name, path(d.path)])),
    health: e.health,
    migrate: e.migrate,
    env_file: path(e.envFile),
  };
}

/** The names a playbook may reference: `{{ blue.dir }}`, `{{ env.app }}`, `{{ host.shared_db }}`, ... */
export function templateScope(
  host: ResolvedHost,
  vars: TemplateScope,
  run: { id: string; dir: string },
  env?: ResolvedEnv,
): TemplateScope {
  const scope: TemplateScope = {};
  for (const e of Object.values(host.envs)) scope[e.name] = envScope(e);
  scope.host = {
    name: host.name,
    shared_db: path(host.sharedDb),
    backups_dir: path(host.backups?.dir),
    journal: path(host.journal),
  };
  if (host.proxy) scope.proxy = { live_port: host.proxy.live_port, preview_port: host.proxy.preview_port };
  const li = liveAndIdle(host);
  if (li) {
    scope.live = envScope(li.live);
    scope.idle = envScope(li.idle);
  }
  // Without a proxy nothing is live by bg's account: a host with `release:` releases to its idle env.
  const ri = li ? undefined : releaseIdle(host);
  if (ri) scope.idle = envScope(ri);
  scope.vars = { ...vars };
  scope.run = { id: run.id, dir: path(run.dir) };
  if (env) scope.env = envScope(env);
  return scope;
}
