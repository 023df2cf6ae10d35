// The backup action on a PostgreSQL env: pg_dump -Fc, verified by a restore into a scratch database.
import type { ActionInput, StepBody } from '../action.js';
import { DEFAULT_BACKUPS, localPgCopyPath } from '../backup-paths.js';
import { joinPath, quotePath, shellQuote } from '../quote.js';
import { call } from '../sh-lib.js';
import { pgPreflight } from '../pg-preflight.js';
import type { BackupParams } from './backup.js';
import { pgConnWords, pgLabel } from './pg-common.js';
import { pgEnvFileAgrees } from './share-db-pg.js';

/** Where a run's dump of a PostgreSQL env lives (`.pgdump`: never taken for a SQLite file by `bg restore`). */
export function pgBackupPath(backupsDir: string, envName: string, runId: string): string {
  return joinPath(backupsDir, `${envName}-${runId}.pgdump`);
}

/**
 * pg_dump -Fc in one exported snapshot with the row counts and schema of that snapshot (recorded beside the dump), then
 * the verify step restores the dump into a scratch database and compares both. Pruning is the
 * SQLite one (bg_backup_prune) with the `.pgdump` pattern; `copy_to` copies the dump as on SQLite.
 */
export function buildPgBackup({ params: p, env, host, runId }: ActionInput<BackupParams>): StepBody {
  const pg = env!.pg!;
  const backups = host.backups ?? DEFAULT_BACKUPS;
  const keep = p.keep ?? backups.keep;
  const dst = pgBackupPath(backups.dir, env!.name, runId);
  const conn = pgConnWords(pg);
  const pattern = `^${env!.name.replace(/[.[\]()*+?^$|{}\\]/g, '\\$&')}-[0-9]{8}T[0-9]{6}(\\.[0-9]{3})?Z.*\\.pgdump$`;
  // Off the host: once verified, the dump is copied to the machine running bg (run/offhost.ts), as on SQLite.
  const copyTo = p.copy_to === false ? undefined : (p.copy_to ?? backups.copy_to);
  const local = copyTo === undefined ? undefined : localPgCopyPath(copyTo, host.name, env!.name, runId);
  return {
    ...(local ? { download: { cmd: call('bg_offhost_send', quotePath(dst)), remote: dst, local, label: `copy ${dst} to ${local} on this machine (sha256 checked)` } } : {}),
    mutates: false,
    preflight: [...pgPreflight(host, [env!], { dumpTo: backups.dir }), pgEnvFileAgrees(env!)],
    run: [
      { cmd: call('bg_pg_backup', ...conn, quotePath(backups.dir), quotePath(dst)), label: `pg_dump ${pgLabel(pg)} to ${dst}` },
      { cmd: call('bg_backup_prune', quotePath(backups.dir), quotePath(joinPath(host.journal, 'runs')), shellQuote(env!.name), shellQuote(dst.split('/').pop()!), String(keep), shellQuote(pattern)), label: `keep the newest ${keep} backups of ${env!.name}` },
    ],
    verify: [{ cmd: call('bg_pg_backup_verify', ...conn, quotePath(dst)), label: 'restored into a scratch database: row counts and schema fingerprint equal' }],
    undoNote: 'backups are kept (pruned by `keep`)',
  };
}
