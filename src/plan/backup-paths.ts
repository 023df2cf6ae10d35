import type { ResolvedHost } from './host-model.js';
import { joinPath } from './quote.js';

export const DEFAULT_BACKUPS: { dir: string; keep: number; copy_to?: string } = { dir: '~/bg-backups', keep: 20 };

/** Where a run's backup of an env's database lives: deterministic, so undo can find it. */
export function backupPath(host: ResolvedHost, envName: string, runId: string): string {
  return joinPath((host.backups ?? DEFAULT_BACKUPS).dir, `${envName}-${runId}.db`);
}

/**
 * A step whose undo restores a backup records that backup's path, at capture time (before the
 * step changes anything), in `<step dir>/backup` (migrate does). The record is what protects the
 * backup: pruning keeps it while that step is not undone, and `bg rollback` refuses to start when
 * it is missing. Both are plain shell, so the host's state is readable without bg.
 */
export const UNDO_BACKUP_RECORD = 'backup';

/**
 * Where a backup's copy goes on the machine running bg (backups' `copy_to`): one directory per
 * host under COPY_TO, the file named as on the host, so the run id is in its name. The path is
 * kept as given (`~`, relative): the executor resolves it where it writes.
 */
export function localCopyPath(copyTo: string, hostName: string, envName: string, runId: string): string {
  return `${localCopyDir(copyTo, hostName)}/${envName}-${runId}.db`;
}

/** The directory of one host's copies under COPY_TO (host names are plain: letters, digits, _ and -). */
export function localCopyDir(copyTo: string, hostName: string): string {
  const base = copyTo.replace(/\/+$/, '');
  return `${base}/${hostName}`;
}
