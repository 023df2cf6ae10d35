// Pre-flight checks of PostgreSQL envs (shell in src/remote/pg-checks.sh), for every action that
// touches one: backup, schema-check and db-inspect here; migrate, restore and share-db call them too.
import type { ResolvedEnv, ResolvedHost } from './host-model.js';
import { quotePath, shellQuote } from './quote.js';
import { call } from './sh-lib.js';
import type { Command } from './types.js';
import { toolPresent } from './preflight.js';
import { pgConnWords, pgLabel } from './actions/pg-common.js';

/** The exit status of pg-checks.sh's checks that could not connect (EX_UNAVAILABLE): bg exits 5 for it. */
export const PG_UNREACHABLE_EXIT = 69;

/**
 * Default of `idle_in_transaction_max`: an app's transaction sits idle between its statements for
 * milliseconds; one idle for 30 s is a leaked connection, a person at a psql prompt or a stuck
 * worker, and DDL queued behind its locks blocks every later query of the app.
 */
export const DEFAULT_IDLE_IN_TRANSACTION_MS = 30_000;

type PgEnv = ResolvedEnv & { pg: NonNullable<ResolvedEnv['pg']> };

/** The words every check takes first: bg's name of the host, the env, and how its database is named (no password). */
function who(host: ResolvedHost, env: PgEnv): string[] {
  return [shellQuote(host.name), shellQuote(env.name), shellQuote(pgLabel(env.pg))];
}

/** The env's database answers with its credentials (exit 5 with libpq's reason when not). */
export function pgReachable(host: ResolvedHost, env: PgEnv): Command {
  return { cmd: call('bg_pg_reach', ...who(host, env), ...pgConnWords(env.pg)), label: `the PostgreSQL database of ${env.name} answers (${pgLabel(env.pg)})`, unreachableExit: PG_UNREACHABLE_EXIT };
}

/** The host's pg_dump is of the server's major version or newer (pg_dump refuses a newer server). */
export function pgDumpNewEnough(host: ResolvedHost, env: PgEnv): Command {
  return { cmd: call('bg_pg_dump_version', ...who(host, env), ...pgConnWords(env.pg)), label: `pg_dump is as new as the server of ${env.name}`, unreachableExit: PG_UNREACHABLE_EXIT };
}

/**
 * Room in the backups directory for a dump of every PostgreSQL database of the host (one check
 * per host, like spaceForBackups): free space above the sum of their pg_database_size. A custom-
 * format dump is compressed and holds neither indexes nor dead rows, so it stays below that size.
 */
export function pgSpaceForDumps(host: ResolvedHost, backupsDir: string): Command {
  const envs = Object.values(host.envs).filter((e): e is PgEnv => e.pg !== undefined);
  const words = envs.flatMap((e) => [shellQuote(e.name), shellQuote(pgLabel(e.pg)), ...pgConnWords(e.pg)]);
  return { cmd: call('bg_pg_space_for', shellQuote(host.name), quotePath(backupsDir), ...words), label: `free space in ${backupsDir} exceeds the size of the PostgreSQL databases`, unreachableExit: PG_UNREACHABLE_EXIT };
}

/** No session idle in a transaction longer than the env's `idle_in_transaction_max` holds a lock on its database's tables. */
export function pgNoIdleLocks(host: ResolvedHost, env: PgEnv): Command {
  const secs = Math.ceil((env.pg.idle_in_transaction_max ?? DEFAULT_IDLE_IN_TRANSACTION_MS) / 1000);
  return {
    cmd: call('bg_pg_idle_locks', ...who(host, env), String(secs), ...pgConnWords(env.pg)),
    label: `no session of ${env.name}'s database idle in a transaction over ${secs}s holds locks`,
    unreachableExit: PG_UNREACHABLE_EXIT,
  };
}

/**
 * Every pre-flight check of an action on these PostgreSQL envs: psql present, each database
 * reachable, no old idle transaction holding locks (unless `locks: false`: an action that reads
 * only pg_catalog waits for no table lock); with `dumpTo` (the action dumps or restores), pg_dump
 * and pg_restore present, pg_dump new enough and room for the dumps there. The planner keeps each
 * command once, however many steps ask for it.
 */
export function pgPreflight(host: ResolvedHost, envs: readonly ResolvedEnv[], opts: { dumpTo?: string; locks?: boolean } = {}): Command[] {
  const pgEnvs = envs.filter((e): e is PgEnv => e.pg !== undefined);
  if (!pgEnvs.length) return [];
  const dump = opts.dumpTo !== undefined;
  return [
    toolPresent('psql'),
    ...(dump ? [toolPresent('pg_dump'), toolPresent('pg_restore')] : []),
    ...pgEnvs.flatMap((e) => [pgReachable(host, e), ...(dump ? [pgDumpNewEnough(host, e)] : []), ...(opts.locks === false ? [] : [pgNoIdleLocks(host, e)])]),
    ...(dump ? [pgSpaceForDumps(host, opts.dumpTo!)] : []),
  ];
}
