// share-db on PostgreSQL envs: the steps of src/remote/pg-share.sh (see buildPgShareDb).
import { PlanProblem, type ActionInput, type StepBody } from '../action.js';
import type { ResolvedEnv, ResolvedHost } from '../host-model.js';
import { holdWindowMs } from '../haproxy-config.js';
import { pm2App, pm2AppKnown } from '../pm2-sh.js';
import { toolPresent } from '../preflight.js';
import { quotePath, shellQuote } from '../quote.js';
import { call } from '../sh-lib.js';
import { stepDir } from '../step-dir.js';
import { dotenvLine } from './env-set.js';
import { pgConnWords } from './pg-common.js';
import type { ShareDbParams } from './share-db.js';

const secs = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/** share-db's envs are PostgreSQL ones (any of those named, or of the host's envs with a database). */
export function isPgShare(host: ResolvedHost, names: string[] | undefined): boolean {
  const list = names ? names.map((n) => (Object.hasOwn(host.envs, n) ? host.envs[n] : undefined)) : Object.values(host.envs);
  return list.some((e) => e?.pg !== undefined);
}

/** The named envs (default: every env with a database), all PostgreSQL on one server and role, each with an app; at least two. */
function pgShareEnvs(host: ResolvedHost, names: string[] | undefined): ResolvedEnv[] {
  const list = names ?? Object.values(host.envs).filter((e) => e.db !== undefined || e.pg !== undefined).map((e) => e.name);
  const envs = list.map((n, i) => {
    const field = names ? ['with', 'envs', i] : ['env'];
    const e = Object.hasOwn(host.envs, n) ? host.envs[n] : undefined;
    if (!e) throw new PlanProblem(`unknown env \`${n}\` (host has: ${Object.keys(host.envs).join(', ') || 'no envs'})`, field);
    if (!e.pg) throw new PlanProblem(`env \`${n}\` is SQLite and another PostgreSQL: share-db moves databases of one kind`, field);
    if (e.app === undefined) throw new PlanProblem(`env \`${n}\` has no \`app\` in the inventory`, field);
    pm2App(e.app, field, `env ${n}'s app in the inventory`);
    return e;
  });
  if (envs.length < 2) throw new PlanProblem(`share-db needs at least two envs with a database on host \`${host.name}\``, ['with', 'envs']);
  if (new Set(envs.map((e) => e.name)).size !== envs.length) throw new PlanProblem('an env is named twice', ['with', 'envs']);
  if (new Set(envs.map((e) => e.pg!.database)).size !== envs.length) throw new PlanProblem('two envs have the same PostgreSQL database', ['with', 'envs']);
  // CREATE DATABASE ... TEMPLATE copies within one server, and the apps keep their role: only the database may differ.
  const server = (e: ResolvedEnv) => JSON.stringify([e.pg!.host, e.pg!.port, e.pg!.user, e.pg!.service, e.pg!.password_var]);
  const other = envs.find((e) => server(e) !== server(envs[0]!));
  if (other) throw new PlanProblem(`share-db on PostgreSQL needs every env on one server with one role (host, port, user, service, password_var): \`${other.name}\` differs from \`${envs[0]!.name}\``, ['with', 'envs']);
  return envs;
}

/**
 * share-db for PostgreSQL envs, the same contract as on SQLite (share-db.ts):
 *
 *   1. freeze: `pm2 stop` the apps, then wait until pg_stat_activity shows no other connection on
 *      the envs' databases nor by their applications (`bg-ENV`).
 *   2. check: same schema fingerprint (pg.sh); the base = the env whose database holds every row of
 *      the others, by content: each row's text digested (md5) per table, the sets compared; or
 *      `with.base`.
 *   3. copy: `CREATE DATABASE shared TEMPLATE base`, run from another env's database while nobody is
 *      connected to the base: a server-side copy of its files (no dump through the client), so the
 *      freeze stays short; row counts and fingerprint of the copy checked against the base.
 *   4. switch: each env's `PGDATABASE` line in its env file set to the shared database (saved and
 *      restored as env-set does).
 *   5. restart: `pm2 start --update-env` the apps that were online; the freeze ends when they answer.
 *   verify: PostgreSQL shows each env's application holding connections on the shared database and
 *      none on the old ones; the old databases' rows are unchanged since the copy.
 *
 * Undo: stop the apps, env files back, the shared database renamed `SHARED-PREFIX_rolled_back_RUNID`
 * when the apps used it (rows written meanwhile reported) or dropped when they never did, apps started.
 */
export function buildPgShareDb(input: ActionInput<ShareDbParams>): StepBody {
  const { params: p, host, runId } = input;
  if (!host.sharedPg) throw new PlanProblem(`host \`${host.name}\` has no \`shared_db: { postgres: { database: ... } }\` in the inventory (its envs are PostgreSQL)`, ['action']);
  const envs = pgShareEnvs(host, p.envs);
  if (envs.some((e) => e.pg!.database === host.sharedPg)) throw new PlanProblem(`the shared database \`${host.sharedPg}\` is an env's own database`, ['with', 'envs']);
  if (p.base !== 'auto' && !envs.some((e) => e.name === p.base))
    throw new PlanProblem(`\`base\` must be auto or one of ${envs.map((e) => e.name).join(', ')}`, ['with', 'base']);
  const [h, port, , user, service, password] = pgConnWords(envs[0]!.pg!);
  // Every command is one call of src/remote/pg-share.sh: its own values first, then the tail.
  const tail = [quotePath(stepDir(input)), shellQuote(host.sharedPg), h!, port!, user!, service!, password!, ...envs.flatMap((e) => [shellQuote(e.name), shellQuote(e.pg!.database), shellQuote(e.app!), shellQuote(e.health ?? ''), quotePath(e.envFile)])];
  const mig = [shellQuote(p.migrations_table), shellQuote(p.migrations_column)];
  const proxy = host.proxy && envs.some((e) => host.proxy!.colors.includes(e.name)) ? host.proxy : undefined;
  const hold = proxy ? holdWindowMs(proxy) : 0;
  const holdCheck =
    proxy && p.hold_check
      ? [{
          cmd: call('bg_pgs_hold_check', String(hold), String(Math.round(p.hold_margin * 100)), p.expected_freeze === 'auto' ? 'auto' : String(Math.round(p.expected_freeze)), quotePath(proxy.config), String(proxy.hold.retries), String(proxy.hold.connect_timeout_ms), quotePath(proxy.socket), ...tail),
          label: `the proxy holds requests (${hold} ms) longer than the freeze is expected to take, with margin`,
        }]
      : [];
  const names = envs.map((e) => e.name).join(', ');
  const shared = host.sharedPg;
  return {
    mutates: true,
    preflight: [
      toolPresent('psql'),
      ...envs.map((e) => pm2AppKnown(e.app!)),
      { cmd: call('bg_pgs_ready', ...tail), label: `${names}: reachable, PGDATABASE in their env files as in the inventory, the role may create databases, no ${shared} yet` },
      ...holdCheck,
    ],
    discardCheck: [{ cmd: call('bg_pgs_discard', shellQuote(runId), ...mig, ...tail), label: 'rows written to the shared database since the switch' }],
    capture: [{ cmd: call('bg_pgs_capture', ...tail), label: `record which apps of ${names} are online` }],
    run: [
      { cmd: call('bg_pgs_freeze', String(secs(p.release_timeout)), ...tail), label: `freeze writes: stop the apps of ${names}, wait until PostgreSQL shows none of their connections` },
      { cmd: call('bg_pgs_copy', shellQuote(p.base), p.same_schema ? '1' : '0', ...mig, ...tail), label: `same schema; pick the base${p.base === 'auto' ? '' : ` (${p.base})`}; CREATE DATABASE ${shared} TEMPLATE it` },
      { cmd: call('bg_pgs_switch', shellQuote(dotenvLine('PGDATABASE', shared)), ...tail), label: `PGDATABASE=${shared} in the env files of ${names}` },
      { cmd: call('bg_pgs_restart', String(secs(p.wait)), String(hold), ...tail), label: `start the apps of ${names} again (--update-env)` },
    ],
    verify: [
      { cmd: call('bg_pgs_verify_open', ...tail), label: `PostgreSQL shows the applications of ${names} connected to ${shared} only`, retry: { attempts: 20, intervalMs: 500, factor: 1, maxIntervalMs: 500 } },
      { cmd: call('bg_pgs_verify_old', ...tail), label: 'no application on an old database; their rows unchanged since the copy' },
    ],
    undo: [{ cmd: call('bg_pgs_undo', shellQuote(runId), String(secs(p.release_timeout)), String(secs(p.wait)), ...tail), label: `each env back on its own database (${names}); apps restarted` }],
  };
}

/**
 * Pre-flight of a database action on a PostgreSQL env: its env file does not name another
 * PGDATABASE than the inventory's (after share-db the app uses the shared database: backing up or
 * migrating the old one would be wrong). No PGDATABASE line there (e.g. DATABASE_URL) passes.
 */
export function pgEnvFileAgrees(env: ResolvedEnv): { cmd: string; label: string } {
  return { cmd: call('bg_pg_envfile_agrees', shellQuote(env.name), quotePath(env.envFile), shellQuote(env.pg!.database)), label: `${env.name}: its env file's PGDATABASE (if any) is ${env.pg!.database}, as in the inventory` };
}
