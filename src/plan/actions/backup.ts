import { z } from 'zod';
import { requireEnvField, type ActionDef } from '../action.js';
import { backupPattern, backupSuffix, DEFAULT_BACKUPS, envBackups, localCopyPath, type DbBackup } from '../backup-paths.js';
import { joinPath, quotePath, shellQuote } from '../quote.js';
import { call } from '../sh-lib.js';
import { databaseIntact, spaceForBackups, toolPresent } from '../preflight.js';
import { SQLITE } from '../sqlite-features.js';
import { buildPgBackup } from './backup-pg.js';

export const backupParams = z
  .object({
    keep: z.number().int().min(1).optional(),
    /** A directory on the machine running bg for a copy of the backup (default: the host's `backups.copy_to`); false: no copy. */
    copy_to: z.union([z.string().min(1), z.literal(false)]).optional(),
  })
  .strict();

export type BackupParams = z.output<typeof backupParams>;

/** What this action's own sqlite3 calls need of the host's sqlite3 (checked in pre-flight; see sqlite-features.ts). */
export const backupSqlite = [SQLITE.vacuumInto, SQLITE.backupCommand, SQLITE.printf];

/**
 * A consistent online copy with VACUUM INTO: unlike `cp` of a live WAL file it cannot miss
 * committed pages, and unlike `.backup` it does not restart on every outside write.
 * Row counts are read before and after the copy; equal counts bracket the copy, so the copy
 * must hold exactly them (recorded beside it for the verify step). The shell is in
 * src/remote/backup.sh; pruning keeps the newest `keep` backups in the host's order of runs and
 * never one that an undo not yet run restores. With `copy_to` (or the host's `backups.copy_to`) the
 * verified backup is also copied to the machine running bg, after the step (PlanStep.download).
 */
export const backupAction: ActionDef<BackupParams> = {
  name: 'backup',
  summary: "consistent online copy of an env's database (SQLite, or PostgreSQL with pg_dump), verified and pruned",
  env: 'required',
  params: backupParams,
  build(input) {
    if (input.env?.pg) return buildPgBackup(input);
    const { params: p, env, host, runId } = input;
    requireEnvField(env, 'db');
    const envName = env!.name;
    const backups = host.backups ?? DEFAULT_BACKUPS;
    const keep = p.keep ?? backups.keep;
    // Every database of the env (`dbs:`), the default first; each copied, pruned by its own exact pattern, verified.
    const all = envBackups(host, env!, runId);
    const named = (b: DbBackup) => (all.length > 1 ? `${envName}.${b.name}` : envName);
    const run = all.flatMap((b) => [
      { cmd: call('bg_backup', quotePath(b.db), quotePath(backups.dir), quotePath(b.backup)), label: `copy ${all.length > 1 ? `database ${b.name}, ` : ''}${b.db} to ${b.backup}` },
      {
        cmd: call('bg_backup_prune', quotePath(backups.dir), quotePath(joinPath(host.journal, 'runs')), shellQuote(envName), shellQuote(b.backup.split('/').pop()!), String(keep), shellQuote(backupPattern(envName, b.dbName)), ...(b.dbName === undefined ? [] : [shellQuote(backupSuffix(b.dbName))])),
        label: `keep the newest ${keep} backups of ${named(b)}`,
      },
    ]);
    // The result is recorded beside the backup (`.verified`: UTC time and ok, or why not): what `bg backups` shows.
    const verify = all.map((b) => ({ cmd: call('bg_backup_verify', quotePath(b.db), quotePath(b.backup)), label: `${all.length > 1 ? `${b.name}: ` : ''}integrity_check = ok and row counts equal` }));
    // Off the host: once verified, each backup is copied to the machine running bg (run/offhost.ts).
    const copyTo = p.copy_to === false ? undefined : (p.copy_to ?? backups.copy_to);
    const downloads = copyTo === undefined ? [] : all.map((b) => {
      const local = localCopyPath(copyTo, host.name, envName, runId, b.dbName);
      return { cmd: call('bg_offhost_send', quotePath(b.backup)), remote: b.backup, local, label: `copy ${b.backup} to ${local} on this machine (sha256 checked)` };
    });
    return {
      ...(downloads[0] ? { download: downloads[0] } : {}),
      ...(downloads.length > 1 ? { moreDownloads: downloads.slice(1) } : {}),
      mutates: false,
      preflight: [toolPresent('sqlite3'), ...all.map((b) => databaseIntact(b.db)), spaceForBackups(host, backups.dir)],
      run,
      verify,
      undoNote: 'backups are kept (pruned by `keep`)',
    };
  },
};
