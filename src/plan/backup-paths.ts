import type { ResolvedHost } from './host-model.js';
import { joinPath } from './quote.js';

export const DEFAULT_BACKUPS = { dir: '~/bg-backups', keep: 20 };

/** Where a run's backup of an env's database lives: deterministic, so undo can find it. */
export function backupPath(host: ResolvedHost, envName: string, runId: string): string {
  return joinPath((host.backups ?? DEFAULT_BACKUPS).dir, `${envName}-${runId}.db`);
}
