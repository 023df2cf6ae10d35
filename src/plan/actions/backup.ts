import { z } from 'zod';
import { requireEnvField, type ActionDef } from '../action.js';
import { backupPath, DEFAULT_BACKUPS, localCopyPath } from '../backup-paths.js';
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
    const db = requireEnvField(env, 'db');
    const envName = env!.name;
    const backups = host.backups ?? DEFAULT_BACKUPS;
    const keep = p.keep ?? backups.keep;
    const dst = backupPath(host, envName, runId);
    const pattern = `^${envName.replace(/[.[\]()*+?^$|{}\\]/g, '\\$&')}-[0-9]{8}T[0-9]{6}(\\.[0-9]{3})?Z.*\\.db$`;
    const copy = call('bg_backup', quotePath(db), quotePath(backups.dir), quotePath(dst));
    const prune = call('bg_backup_prune', quotePath(backups.dir), quotePath(joinPath(host.journal, 'runs')), shellQuote(envName), shellQuote(dst.split('/').pop()!), String(keep), shellQuote(pattern));
    // The result is recorded beside the backup (`.verified`: UTC time and ok, or why not): what `bg backups` shows.
    const verify = call('bg_backup_verify', quotePath(db), quotePath(dst));
    // Off the host: once verified, the backup is copied to the machine running bg (run/offhost.ts).
    const copyTo = p.copy_to === false ? undefined : (p.copy_to ?? backups.copy_to);
    const local = copyTo === undefined ? undefined : localCopyPath(copyTo, host.name, envName, runId);
    return {
      ...(local ? { download: { cmd: call('bg_offhost_send', quotePath(dst)), remote: dst, local, label: `copy ${dst} to ${local} on this machine (sha256 checked)` } } : {}),
      mutates: false,
      preflight: [toolPresent('sqlite3'), databaseIntact(db), spaceForBackups(host, backups.dir)],
      run: [
        { cmd: copy, label: `copy ${db} to ${dst}` },
        { cmd: prune, label: `keep the newest ${keep} backups of ${envName}` },
      ],
      verify: [{ cmd: verify, label: 'integrity_check = ok and row counts equal' }],
      undoNote: 'backups are kept (pruned by `keep`)',
    };
  },
};
