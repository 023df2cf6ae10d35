import { z } from 'zod';
import { PlanProblem, requireEnvField, type ActionDef } from '../action.js';
import { backupPath, DEFAULT_BACKUPS, UNDO_BACKUP_RECORD } from '../backup-paths.js';
import { duration } from '../duration.js';
import { pm2App, pm2AppKnown } from '../pm2-sh.js';
import { databaseIntact, dirExists, spaceForBackups, toolPresent } from '../preflight.js';
import { joinPath, quotePath, shellQuote } from '../quote.js';
import { restoreDbScript } from '../restore-sh.js';
import { call } from '../sh-lib.js';
import { stepDir } from '../step-dir.js';
import type { Command } from '../types.js';
import { buildPgRestore } from './restore-pg.js';

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
  })
  .strict();

export type RestoreParams = z.output<typeof params>;

/**
 * The backup file an ID names, for this env, or why it is not one. Only bg's own names are
 * accepted: `ENV-RUNID.db` in the backups dir, so no ID can reach outside it (no `/`, no `..`).
 */
export function backupFileOf(id: string, envName: string): { file: string; runId: string } | { problem: string } {
  let runId = id;
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
    const named = backupFileOf(p.backup, env.name);
    if ('problem' in named) throw new PlanProblem(named.problem, ['with', 'backup']);
    if (named.runId === runId) throw new PlanProblem('a run cannot restore its own backup', ['with', 'backup']);
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
