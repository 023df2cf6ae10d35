import { z } from 'zod';
import { PlanProblem, requireEnvField, type ActionDef, type ActionInput, type StepBody } from '../action.js';
import { DB_NAME } from '../../config/inventory-schema.js';
import { restoreDbsScript } from '../restore-dbs-sh.js';
import { backupFileName, backupPath, DEFAULT_BACKUPS, envBackups, UNDO_BACKUP_RECORD, undoBackupRecord } from '../backup-paths.js';
import { duration } from '../duration.js';
import { pm2App, pm2AppKnown } from '../pm2-sh.js';
import { databaseIntact, dirExists, spaceForBackups, toolPresent } from '../preflight.js';
import { joinPath, quotePath, shellQuote } from '../quote.js';
import { restoreDbScript } from '../restore-sh.js';
import { call } from '../sh-lib.js';
import { stepDir } from '../step-dir.js';
import type { Command } from '../types.js';
import { buildPgRestore } from './restore-pg.js';
import { dbsOf } from '../host-model.js';

/** A run id as bg makes them (see src/cli/run-id.ts) and as backup file names carry them. */
const RUN_ID = /^[0-9]{8}T[0-9]{6}(\.[0-9]{3})?Z-[0-9A-Za-z]{1,32}$/;

const params = z
  .object({
    /** The backup: a run id (`20261121T122255.123Z-3fa1`) or its file name (`blue-<run id>.db`), as `bg backups` lists it. */
    backup: z.string().min(1),
    /** Go ahead although the database holds rows the backup lacks (they stay in the copy kept aside). */
    accept_data_loss: z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]).default(false),
    /** How long processes may take to let go of the database once the app is stopped. */
    release_timeout: duration.default(15_000),
    /** Compared by name only when counting rows the backup lacks. */
    migrations_table: z.string().min(1).default('migrations'),
    /** With several databases (`dbs:`): restore only this one ('' or absent: every database that run backed up). */
    db: z.union([z.literal(''), z.string().regex(DB_NAME, 'a database name of the env (`dbs:`)')]).optional(),
  })
  .strict();

export type RestoreParams = z.output<typeof params>;

/**
 * The backup file an ID names, for this env, or why it is not one. Only bg's own names are
 * accepted: `ENV-RUNID.db` in the backups dir, so no ID can reach outside it (no `/`, no `..`).
 */
export function backupFileOf(id: string, envName: string, dbNames: string[] = []): { file: string; runId: string; dbName?: string } | { problem: string } {
  let runId = id;
  // Another database's backup (`dbs:`): ENV-RUNID.NAME.db names the run (and that database).
  const other = dbNames.find((n) => id.startsWith(`${envName}-`) && id.endsWith(`.${n}.db`));
  if (other !== undefined) {
    runId = id.slice(envName.length + 1, -(other.length + 4));
    if (RUN_ID.test(runId)) return { file: id, runId, dbName: other };
  }
  if (id.endsWith('.db')) {
    if (!id.startsWith(`${envName}-`)) return { problem: `${JSON.stringify(id)} is not a backup of env \`${envName}\` (its backups are named ${envName}-RUNID.db)` };
    runId = id.slice(envName.length + 1, -3);
  }
  if (!RUN_ID.test(runId)) return { problem: `${JSON.stringify(id)} is no backup id: give a run id (e.g. 20261121T122255.123Z-3fa1) or a file name ${envName}-RUNID.db, as bg backups lists them` };
  return { file: `${envName}-${runId}.db`, runId };
}

/**
 * Put one of the env's backups in place of its database: the same shell as migrate's undo (app
 * stopped meanwhile, nobody holding the file, the replaced file kept aside). Before replacing,
 * with the app stopped, it refuses when the database holds rows the backup lacks (unless
 * accepted) and copies the database as it is to THIS run's backup: the step's undo restores that.
 */
export const restoreAction: ActionDef<z.output<typeof params>> = {
  name: 'restore',
  summary: "put a backup of the env's database in place (app stopped meanwhile); undo puts back the database as it was",
  env: 'required',
  params,
  build(input) {
    if (input.env?.pg) return buildPgRestore(input);
    const { params: p, env: maybeEnv, host, runId } = input;
    const db = requireEnvField(maybeEnv, 'db');
    const env = maybeEnv!;
    const named = backupFileOf(p.backup, env.name, dbsOf(env).slice(1).map((d) => d.name));
    if ('problem' in named) throw new PlanProblem(named.problem, ['with', 'backup']);
    if (named.runId === runId) throw new PlanProblem('a run cannot restore its own backup', ['with', 'backup']);
    if (dbsOf(env).length > 1 || p.db) return buildMultiRestore(input, named.runId, p.db || named.dbName);
    const backups = host.backups ?? DEFAULT_BACKUPS;
    const from = joinPath(backups.dir, named.file);
    const before = backupPath(host, env.name, runId);
    const sd = stepDir(input);
    const record = joinPath(sd, UNDO_BACKUP_RECORD);
    const app = env.app === undefined ? undefined : pm2App(env.app, ['env'], `env ${env.name}'s app in the inventory`);
    const releaseTimeoutS = Math.ceil(p.release_timeout / 1000);

    const run = restoreDbScript({
      db,
      from,
      app,
      releaseTimeoutS,
      runId,
      asideTag: 'restored-over',
      missing: `bg: no backup ${named.file} in ${backups.dir} (bg backups --host ${host.name} lists them)`,
      before: { path: before, record, acceptDataLoss: p.accept_data_loss, envName: env.name, migrationsTable: p.migrations_table },
      recordVerified: true,
    });
    // The undo: the database as it was just before, from the copy the step took first.
    const undo = restoreDbScript({
      db,
      from: before,
      app,
      releaseTimeoutS,
      runId,
      asideTag: 'rolled-back',
      guard: { file: record, message: 'nothing to undo: the restore did not replace the database' },
      missing: `bg: cannot undo the restore of ${env.name}: the copy taken before it, ${before}, is missing`,
    });
    const verify = call('bg_restore_verify', quotePath(db), quotePath(from));
    // What undoing would discard: rows written to the restored database that the copy taken before lacks.
    const discardCheck = call('bg_rows_since', quotePath(before), quotePath(db), shellQuote(p.migrations_table), shellQuote(env.name), shellQuote(runId), shellQuote('after the restore, not in the database as it was before it'), quotePath(record));
    const preflight: Command[] = [toolPresent('sqlite3'), dirExists(env.dir), databaseIntact(db), backupIntact(from), spaceForBackups(host, backups.dir), ...(app ? [pm2AppKnown(app)] : [])];
    return {
      mutates: true,
      preflight,
      discardCheck: [{ cmd: discardCheck, label: `rows in ${env.name}'s database written since the restore` }],
      capture: [],
      run: [{ cmd: run, label: `restore ${from} into ${db}${app ? ` (${app} stopped meanwhile)` : ''}` }],
      verify: [{ cmd: verify, label: 'integrity_check = ok and row counts equal the backup' }],
      undo: [{ cmd: undo, label: `restore ${before} (the database as it was) into ${db}` }],
    };
  },
};

/** Pre-flight: the backup to restore exists and passes quick_check (read-only). */
function backupIntact(file: string): Command {
  return { cmd: call('bg_backup_ok', quotePath(file)), label: `the backup ${file} exists and passes quick_check` };
}

/**
 * An env with several databases (`dbs:`), or `with.db`: every database the chosen run backed up
 * (or the one named), with the app stopped once (bg_restore_dbs). A run without a backup of a
 * named database leaves it as it is; the default's backup (or the named one's) must be there.
 */
function buildMultiRestore(input: ActionInput<z.output<typeof params>>, fromRun: string, only: string | undefined): StepBody {
  const { params: p, host, runId } = input;
  const env = input.env!;
  const all = envBackups(host, env, runId);
  const which = only ? all.filter((b) => b.name === only) : all;
  if (which.length === 0) throw new PlanProblem(`env \`${env.name}\` has no database \`${only}\` (it has: ${all.map((b) => b.name).join(', ')})`, ['with', 'db']);
  const backups = host.backups ?? DEFAULT_BACKUPS;
  const sd = stepDir(input);
  const app = env.app === undefined ? undefined : pm2App(env.app, ['env'], `env ${env.name}'s app in the inventory`);
  const releaseTimeoutS = Math.ceil(p.release_timeout / 1000);
  const items = which.map((b) => {
    const file = backupFileName(env.name, fromRun, b.dbName);
    return { ...b, from: joinPath(backups.dir, file), file, record: joinPath(sd, undoBackupRecord(b.dbName)), required: only ? true : b.dbName === undefined };
  });
  const common = { app, releaseTimeoutS, runId, envName: env.name, migrationsTable: p.migrations_table };
  const run = restoreDbsScript({
    ...common,
    asideTag: 'restored-over',
    recordVerified: true,
    acceptDataLoss: p.accept_data_loss,
    dbs: items.map((i) => ({ db: i.db, from: i.from, ...(i.required ? { missing: `bg: no backup ${i.file} in ${backups.dir} (bg backups --host ${host.name} lists them)` } : {}), before: { path: i.backup, record: i.record } })),
  });
  const undo = restoreDbsScript({
    ...common,
    asideTag: 'rolled-back',
    dbs: items.map((i) => ({ db: i.db, from: i.backup, onlyIf: i.record, missing: `bg: cannot undo the restore of ${env.name}.${i.name}: the copy taken before it, ${i.backup}, is missing` })),
  });
  const names = items.map((i) => i.name).join(', ');
  return {
    mutates: true,
    preflight: [toolPresent('sqlite3'), dirExists(env.dir), ...items.map((i) => databaseIntact(i.db)), ...items.filter((i) => i.required).map((i) => backupIntact(i.from)), spaceForBackups(host, backups.dir), ...(app ? [pm2AppKnown(app)] : [])],
    discardCheck: items.map((i) => ({
      cmd: call('bg_rows_since', quotePath(i.backup), quotePath(i.db), shellQuote(p.migrations_table), shellQuote(`${env.name}.${i.name}`), shellQuote(runId), shellQuote('after the restore, not in the database as it was before it'), quotePath(i.record)),
      label: `rows in ${env.name}'s database ${i.name} written since the restore`,
    })),
    capture: [],
    run: [{ cmd: run, label: `restore run ${fromRun}'s backups of ${names} into ${env.name}${app ? ` (${app} stopped once meanwhile)` : ''}` }],
    // A database that run did not back up was left alone: nothing to compare.
    verify: items.map((i) => ({ cmd: call('bg_restore_verify_if', quotePath(i.db), quotePath(i.from)), label: `${i.name}: integrity_check = ok and row counts equal the backup` })),
    undo: [{ cmd: undo, label: `restore the copies taken before (the databases as they were) into ${env.name}` }],
  };
}
