// The migrate action on a PostgreSQL env: the app's migrator with libpq's PG* variables exported,
// verified by "nothing pending" and a database that answers, undone by putting this run's .pgdump
// back in one transaction (src/remote/pg-restore.sh).
import { PlanProblem, type ActionInput, type StepBody } from '../action.js';
import { DEFAULT_BACKUPS } from '../backup-paths.js';
import { pm2App, pm2AppKnown } from '../pm2-sh.js';
import { dirExists } from '../preflight.js';
import { pgPreflight } from '../pg-preflight.js';
import { joinPath, quotePath, shellQuote } from '../quote.js';
import { call, script } from '../sh-lib.js';
import { stepDir } from '../step-dir.js';
import { pgBackupPath } from './backup-pg.js';
import type { MigrateParams } from './migrate.js';
import { pgConnWords, pgLabel } from './pg-common.js';
import { pgEnvFileAgrees } from './share-db-pg.js';

/** The column of the migrations table that names a migration (as pg.sh's fingerprint reads it). */
export const PG_MIGRATIONS_COLUMN = 'name';

/** A quoted SQL identifier (for the migrations table bg reads the applied names from). */
export function pgIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * The env's migrate command in its dir with PGHOST, PGPORT, PGDATABASE, PGUSER, PGSERVICE and
 * PGPASSWORD exported (the password from its secret's variable, sent on stdin); verified by
 * nothing pending and `SELECT 1`; undone by restoring THIS run's `.pgdump` (a backup step must come
 * first: the capture refuses without it). The database replaced by the undo is dumped first to
 * `ENV-RUNID.pgdump.rolled-back`. The lint gate reads the live schema (pg_dump --schema-only) and
 * the applied migrations from the database; the dialect is postgres.
 */
export function buildPgMigrate(input: ActionInput<MigrateParams>): StepBody {
  const { params: p, env: maybeEnv, host, runId } = input;
  const env = maybeEnv!;
  const pg = env.pg!;
  const command = p.command ?? env.migrate;
  if (!command) throw new PlanProblem(`env \`${env.name}\` has no \`migrate\` command in the inventory; set it or give \`with.command\``, ['with', 'command']);
  const conn = pgConnWords(pg);
  const dir = quotePath(env.dir);
  const backups = host.backups ?? DEFAULT_BACKUPS;
  const bak = pgBackupPath(backups.dir, env.name, runId);
  const sd = stepDir(input);
  const guard = joinPath(sd, 'backup');
  const mt = shellQuote(p.migrations_table);
  const app = env.app === undefined ? undefined : pm2App(env.app, ['env'], `env ${env.name}'s app in the inventory`);

  const verifyPending = p.pending
    ? call('bg_pg_with', ...conn, 'bg_migrate_pending', dir, shellQuote(p.pending))
    : call('bg_pg_with', ...conn, 'bg_migrate_again', dir, shellQuote(command), shellQuote(p.up_to_date));
  const undo = script(
    call('bg_undo_if', quotePath(guard), shellQuote('nothing to undo: the migration never started')),
    call('bg_pg_restore_db', ...conn, quotePath(bak), shellQuote(app ?? ''), String(Math.max(1, Math.ceil(p.release_timeout / 1000))), shellQuote(runId), shellQuote(`bg: cannot undo the migration of ${env.name}: this run's backup ${bak} is missing`), mt, shellQuote(PG_MIGRATIONS_COLUMN), "''", "''", '0', shellQuote(env.name)),
  );
  const migrationsDir = p.migrations_dir ?? env.migrationsDir ?? 'migrations';
  const listing = call(
    'bg_pg_migration_listing',
    quotePath(joinPath(env.dir, migrationsDir)),
    ...conn,
    shellQuote(`SELECT ${pgIdent(PG_MIGRATIONS_COLUMN)} FROM ${pgIdent(p.migrations_table)}`),
    shellQuote(`bg: no migrations directory ${migrationsDir} in ${env.dir} (set the env's migrations_dir or with.migrations_dir, or with.lint: false)`),
  );
  const gateLabel = p.allow_breaking ? `pending migrations of ${env.name} linted (breaking ones allowed: with.allow_breaking)` : `pending migrations of ${env.name} do not break the version still running`;
  return {
    mutates: true,
    // A wrong password is exit 5 here, before anything changes; an env file naming another database (after share-db) is refused.
    preflight: [...pgPreflight(host, [env], { dumpTo: backups.dir }), pgEnvFileAgrees(env), dirExists(env.dir), ...(app ? [pm2AppKnown(app)] : [])],
    gates: p.lint ? [{ kind: 'lint-migrations', cmd: listing, label: gateLabel, dialect: 'postgres', ...(p.allow_breaking ? { allowBreaking: true as const } : {}) }] : [],
    discardCheck: [
      {
        cmd: call('bg_pg_rows_since', ...conn, quotePath(bak), mt, shellQuote(env.name), shellQuote(runId), shellQuote("after this run's backup, not in the restored database"), quotePath(guard)),
        label: `rows in ${env.name}'s database that the backup lacks`,
      },
    ],
    capture: [
      { cmd: call('bg_migrate_capture', quotePath(sd), quotePath(bak), shellQuote(env.name)), label: `this run's backup of ${env.name} exists` },
      ...(p.allow_breaking ? [{ cmd: call('bg_migrate_breaking_allowed', quotePath(sd)), label: 'record: breaking migrations allowed' }] : []),
    ],
    run: [{ cmd: call('bg_pg_with', ...conn, 'bg_pg_migrate_run', dir, shellQuote(command)), label: `migrate ${env.name} (${pgLabel(pg)} in PG* variables)`, timeoutMs: p.timeout }],
    verify: [
      { cmd: verifyPending, label: p.pending ? 'the pending check prints nothing' : 'run again, the migrate command has nothing to do' },
      { cmd: call('bg_pg_answers', ...conn, 'migrate'), label: 'the database answers' },
    ],
    undo: [{ cmd: undo, label: `restore ${bak} into ${pgLabel(pg)} in one transaction${app ? ` (${app} stopped meanwhile)` : ''}` }],
  };
}
