import { z } from 'zod';
import { PlanProblem, requireEnvField, type ActionDef } from '../action.js';
import { backupPath, envBackups, undoBackupRecord } from '../backup-paths.js';
import { restoreDbsScript } from '../restore-dbs-sh.js';
import { duration } from '../duration.js';
import { restoreDbScript } from '../restore-sh.js';
import { joinPath, quotePath, shellQuote } from '../quote.js';
import { call } from '../sh-lib.js';
import { stepDir } from '../step-dir.js';
import { databaseIntact, dirExists, toolPresent } from '../preflight.js';
import { pm2App, pm2AppKnown } from '../pm2-sh.js';
import { SQLITE } from '../sqlite-features.js';
import { buildPgMigrate } from './migrate-pg.js';

/** What common migrators print when they had nothing to do (matched case-insensitively). */
export const DEFAULT_UP_TO_DATE = 'no pending migrations|already up[ -]to[ -]date|nothing to migrate|no migrations (were executed|to run|to apply)';

const params = z
  .object({
    /** The migrate command, run in the env's dir; default: the env's `migrate` from the inventory. */
    command: z.string().min(1).optional(),
    /** A read-only command that lists pending migrations: up to date when it prints nothing. */
    pending: z.string().min(1).optional(),
    /** Without `pending`: the migrate command is run again and must print this (extended regex, any case). */
    up_to_date: z.string().min(1).default(DEFAULT_UP_TO_DATE),
    timeout: duration.optional(),
    /** Undo: how long processes may take to let go of the database once the app is stopped. */
    release_timeout: duration.default(15_000),
    /** The app's table of applied migrations: its rows are what undo is meant to drop, not data. */
    migrations_table: z.string().min(1).default('migrations'),
    /** Where the SQL migration files are, in the env's dir: the pending ones are linted first (default: the env's `migrations_dir`, else `migrations`). */
    migrations_dir: z.string().min(1).optional(),
    /** Lint the pending migrations before anything changes (`bg lint` rules; --allow-breaking lets them through). */
    lint: z.boolean().default(true),
    dialect: z.enum(['sqlite', 'postgres']).default('sqlite'),
    /** Let breaking migrations through (still linted and reported): only where no old version runs meanwhile, as in a maintenance window. */
    allow_breaking: z.boolean().default(false),
  })
  .strict();

export type MigrateParams = z.output<typeof params>;

/** What this action's own sqlite3 calls need of the host's sqlite3 (checked in pre-flight; see sqlite-features.ts). */
// VACUUM INTO: the undo calls bg_restore_db, whose code (shared with restore) holds the copy taken
// before a restore; migrate never takes it, but its required backup step needs 3.27 anyway.
export const migrateSqlite = [SQLITE.pragmaFunctions, SQLITE.walCheckpointTruncate, SQLITE.printf, SQLITE.vacuumInto];

/**
 * The env's migrate command in its dir. Verified by "nothing pending" afterwards; undone by
 * restoring THIS run's backup of the env's database (so a backup step must come first: the
 * step refuses to start without it). The database being replaced is kept aside, never deleted.
 */
export const migrateAction: ActionDef<z.output<typeof params>> = {
  name: 'migrate',
  summary: "run the env's migrate command in its dir; undo restores this run's backup",
  env: 'required',
  shellTemplates: ['command', 'pending'],
  params,
  build(input) {
    if (input.env?.pg) return buildPgMigrate(input);
    const { params: p, env: maybeEnv, host, runId } = input;
    const db = requireEnvField(maybeEnv, 'db');
    const env = maybeEnv!;
    const command = p.command ?? env.migrate;
    if (!command) throw new PlanProblem(`env \`${env.name}\` has no \`migrate\` command in the inventory; set it or give \`with.command\``, ['with', 'command']);
    const dir = quotePath(env.dir);
    const bak = backupPath(host, env.name, runId);

    const sd = stepDir(input);
    // Several databases (`dbs:`): the migrate command may change any of them, so every one's backup
    // is required and recorded, and the undo restores them all with the app stopped once.
    const all = envBackups(host, env, runId);
    const multi = all.length > 1;
    const capture = multi
      ? call('bg_migrate_capture_dbs', quotePath(sd), shellQuote(env.name), ...all.flatMap((b) => [shellQuote(b.name), quotePath(b.backup), shellQuote(undoBackupRecord(b.dbName))]))
      : call('bg_migrate_capture', quotePath(sd), quotePath(bak), shellQuote(env.name));
    // The user's commands travel as one quoted word each; the library runs them with eval, in the env's dir.
    const verifyPending = p.pending ? call('bg_migrate_pending', dir, shellQuote(p.pending)) : call('bg_migrate_again', dir, shellQuote(command), shellQuote(p.up_to_date));
    const verifyIntegrity = call('bg_db_ok_after', quotePath(db), 'migrate');

    const app = env.app === undefined ? undefined : pm2App(env.app, ['env'], `env ${env.name}'s app in the inventory`);
    const undo = multi
      ? restoreDbsScript({
          app,
          releaseTimeoutS: Math.ceil(p.release_timeout / 1000),
          runId,
          asideTag: 'rolled-back',
          envName: env.name,
          guard: { file: joinPath(sd, 'backup'), message: 'nothing to undo: the migration never started' },
          dbs: all.map((b) => ({ db: b.db, from: b.backup, onlyIf: joinPath(sd, undoBackupRecord(b.dbName)), missing: `bg: cannot undo the migration of ${env.name}: this run's backup ${b.backup} of ${b.name} is missing` })),
        })
      : restoreDbScript({
      db,
      from: bak,
      app,
      releaseTimeoutS: Math.ceil(p.release_timeout / 1000),
      runId,
      asideTag: 'rolled-back',
      guard: { file: joinPath(sd, 'backup'), message: 'nothing to undo: the migration never started' },
      missing: `bg: cannot undo the migration of ${env.name}: this run's backup ${bak} is missing`,
    });

    // What the undo would discard: rows of the database now that the backup lacks (by content).
    const discardChecks = all.map((b) => ({
      cmd: call('bg_rows_since', quotePath(b.backup), quotePath(b.db), shellQuote(p.migrations_table), shellQuote(multi ? `${env.name}.${b.name}` : env.name), shellQuote(runId), shellQuote("after this run's backup, not in the restored database")),
      label: `rows in ${multi ? `${env.name}'s database ${b.name}` : `${env.name}'s database`} that the backup lacks`,
    }));
    // The database's live schema, then every migration file, marked applied (named in the
    // migrations table, with or without .sql) or pending: the gate judges the pending ones against
    // the schema the database has.
    const migrationsDir = p.migrations_dir ?? env.migrationsDir ?? 'migrations';
    const listing = call(
      'bg_migration_listing',
      quotePath(joinPath(env.dir, migrationsDir)),
      quotePath(db),
      shellQuote(`SELECT name FROM "${p.migrations_table.replace(/"/g, '""')}"`),
      shellQuote(`bg: no migrations directory ${migrationsDir} in ${env.dir} (set the env's migrations_dir or with.migrations_dir, or with.lint: false)`),
    );
    return {
      mutates: true,
      preflight: [toolPresent('sqlite3'), dirExists(env.dir), ...all.map((b) => databaseIntact(b.db)), ...(app ? [pm2AppKnown(app)] : [])],
      gates: p.lint
        ? [
            p.allow_breaking
              ? { kind: 'lint-migrations', cmd: listing, label: `pending migrations of ${env.name} linted (breaking ones allowed: with.allow_breaking)`, dialect: p.dialect, allowBreaking: true }
              : { kind: 'lint-migrations', cmd: listing, label: `pending migrations of ${env.name} do not break the version still running`, dialect: p.dialect },
          ]
        : [],
      discardCheck: discardChecks,
      capture: [
        { cmd: capture, label: multi ? `this run's backups of ${env.name} exist (${all.map((b) => b.name).join(', ')})` : `this run's backup of ${env.name} exists` },
        // The step's journal says that breaking migrations were let through, beside the plan's gate.
        ...(p.allow_breaking ? [{ cmd: call('bg_migrate_breaking_allowed', quotePath(sd)), label: 'record: breaking migrations allowed' }] : []),
      ],
      run: [{ cmd: `cd ${dir} && ${command}`, label: `migrate ${env.name}`, timeoutMs: p.timeout }],
      verify: [
        { cmd: verifyPending, label: p.pending ? 'the pending check prints nothing' : 'run again, the migrate command has nothing to do' },
        ...(multi ? all.map((b) => ({ cmd: call('bg_db_ok_after', quotePath(b.db), 'migrate'), label: `${b.name}: PRAGMA quick_check = ok` })) : [{ cmd: verifyIntegrity, label: 'PRAGMA quick_check = ok' }]),
      ],
      undo: [{ cmd: undo, label: multi ? `restore this run's backups of ${all.map((b) => b.name).join(', ')} into ${env.name}${app ? ` (${app} stopped once meanwhile)` : ''}` : `restore ${bak} into ${db}${app ? ` (${app} stopped meanwhile)` : ''}` }],
    };
  },
};
