import type { ResolvedHost } from './host-model.js';
import { joinPath } from './quote.js';

export const DEFAULT_BACKUPS = { dir: '~/bg-backups', keep: 20 };

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
