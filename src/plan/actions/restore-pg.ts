// The restore action on a PostgreSQL env: one of its .pgdump backups put in place in one
// transaction, with the same contract as on SQLite (src/remote/pg-restore.sh).
import { PlanProblem, type ActionInput, type StepBody } from '../action.js';
import { DEFAULT_BACKUPS, UNDO_BACKUP_RECORD } from '../backup-paths.js';
import { pm2App, pm2AppKnown } from '../pm2-sh.js';
import { dirExists } from '../preflight.js';
import { pgPreflight } from '../pg-preflight.js';
import { joinPath, quotePath, shellQuote } from '../quote.js';
import { call, script } from '../sh-lib.js';
import { stepDir } from '../step-dir.js';
import { pgBackupPath } from './backup-pg.js';
import { PG_MIGRATIONS_COLUMN } from './migrate-pg.js';
import { pgConnWords, pgLabel } from './pg-common.js';
import { pgEnvFileAgrees } from './share-db-pg.js';
import { backupFileOf, type RestoreParams } from './restore.js';

/** The dump an ID names for a PostgreSQL env: a run id or `ENV-RUNID.pgdump` (bg's own names only, as on SQLite). */
export function pgBackupFileOf(id: string, envName: string): { file: string; runId: string } | { problem: string } {
  let runId = id;
  if (id.endsWith('.pgdump')) {
    if (!id.startsWith(`${envName}-`)) return { problem: `${JSON.stringify(id)} is not a backup of env \`${envName}\` (its backups are named ${envName}-RUNID.pgdump)` };
    runId = id.slice(envName.length + 1, -'.pgdump'.length);
  }
  const named = backupFileOf(runId, envName);
  // backupFileOf also takes a SQLite file name (`ENV-RUNID.db`): here only the bare run id passes.
  if ('problem' in named || named.runId !== runId) return { problem: `${JSON.stringify(id)} is no backup id: give a run id (e.g. 20261121T122255.123Z-3fa1) or a file name ${envName}-RUNID.pgdump, as bg backups lists them` };
  return { file: `${envName}-${named.runId}.pgdump`, runId: named.runId };
}

/**
 * Put one of the env's dumps in place of its database (bg_pg_restore_db: app stopped, its sessions
 * and open transactions waited for, one transaction, counts and fingerprint verified). Before that,
 * it refuses when the database holds rows the dump lacks (unless accepted) and dumps the database as
 * it is to THIS run's backup `ENV-RUNID.pgdump` (verified by a scratch restore): the undo restores it.
 */
export function buildPgRestore(input: ActionInput<RestoreParams>): StepBody {
  const { params: p, env: maybeEnv, host, runId } = input;
  const env = maybeEnv!;
  const pg = env.pg!;
  const named = pgBackupFileOf(p.backup, env.name);
  if ('problem' in named) throw new PlanProblem(named.problem, ['with', 'backup']);
  if (named.runId === runId) throw new PlanProblem('a run cannot restore its own backup', ['with', 'backup']);
  const conn = pgConnWords(pg);
  const backups = host.backups ?? DEFAULT_BACKUPS;
  const from = joinPath(backups.dir, named.file);
  const before = pgBackupPath(backups.dir, env.name, runId);
  const record = joinPath(stepDir(input), UNDO_BACKUP_RECORD);
  const app = env.app === undefined ? undefined : pm2App(env.app, ['env'], `env ${env.name}'s app in the inventory`);
  const release = String(Math.max(1, Math.ceil(p.release_timeout / 1000)));
  const mt = shellQuote(p.migrations_table);
  const mc = shellQuote(PG_MIGRATIONS_COLUMN);
  const restore = (dump: string, missing: string, extra: string[]) => call('bg_pg_restore_db', ...conn, quotePath(dump), shellQuote(app ?? ''), release, shellQuote(runId), shellQuote(missing), mt, mc, ...extra);
  return {
    mutates: true,
    preflight: [
      // Tools, reachable (a wrong password: exit 5), pg_dump new enough, no old idle transaction, room for the dumps.
      ...pgPreflight(host, [env], { dumpTo: backups.dir }),
      pgEnvFileAgrees(env),
      dirExists(env.dir),
      { cmd: call('bg_pg_dump_ok', quotePath(from)), label: `the backup ${from} exists and is a readable pg_dump archive` },
      ...(app ? [pm2AppKnown(app)] : []),
    ],
    discardCheck: [
      {
        cmd: call('bg_pg_rows_since', ...conn, quotePath(before), mt, shellQuote(env.name), shellQuote(runId), shellQuote('after the restore, not in the database as it was before it'), quotePath(record)),
        label: `rows in ${env.name}'s database written since the restore`,
      },
    ],
    capture: [],
    run: [
      {
        cmd: restore(from, `bg: no backup ${named.file} in ${backups.dir} (bg backups --host ${host.name} lists them)`, [quotePath(before), quotePath(record), p.accept_data_loss ? '1' : '0', shellQuote(env.name)]),
        label: `restore ${from} into ${pgLabel(pg)} in one transaction${app ? ` (${app} stopped meanwhile)` : ''}`,
      },
    ],
    verify: [{ cmd: call('bg_pg_restore_verify', ...conn, quotePath(from), mt, mc), label: 'row counts and schema fingerprint equal those recorded with the backup' }],
    undo: [
      {
        cmd: script(call('bg_undo_if', quotePath(record), shellQuote('nothing to undo: the restore did not replace the database')), restore(before, `bg: cannot undo the restore of ${env.name}: the copy taken before it, ${before}, is missing`, ["''", "''", '0', shellQuote(env.name)])),
        label: `restore ${before} (the database as it was) into ${pgLabel(pg)}`,
      },
    ],
  };
}
