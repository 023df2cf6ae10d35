import { UNDO_BACKUP_RECORD } from '../plan/backup-paths.js';
import { quotePath, shellQuote } from '../plan/quote.js';
import { call } from '../plan/sh-lib.js';
import type { PlanStep } from '../plan/types.js';
import type { Transport } from '../transport/transport.js';
import { BgError, ExitCode } from '../errors.js';
import { RUN_FILES, runFile } from './journal-layout.js';

/**
 * Backups the undo of these steps restores (recorded by each step, see UNDO_BACKUP_RECORD) that are
 * no longer on the host. Checked before a rollback undoes anything: a rollback that would stop at
 * a missing backup halfway must not start.
 */
export async function missingUndoBackups(transport: Transport, runDir: string, steps: PlanStep[]): Promise<Array<{ step: PlanStep; path: string }>> {
  if (steps.length === 0 || !runDir) return [];
  const r = await transport.exec(undoBackupsCommand(runDir, steps), { timeoutMs: 60_000 });
  if (r.exitCode !== 0) throw new BgError(`cannot check the backups run ${runDir} needs on ${transport.host}: ${r.stderr.trim() || `exit ${r.exitCode}`}`, ExitCode.stepFailed);
  const out: Array<{ step: PlanStep; path: string }> = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^(\d+) (.+)$/.exec(line);
    const step = m && steps.find((s) => s.index === Number(m[1]));
    if (step) out.push({ step, path: m[2]! });
  }
  return out;
}

/** The call that prints "N PATH" for each step whose recorded backup is gone (bg_undo_missing in src/remote/runs.sh). */
export function undoBackupsCommand(runDir: string, steps: PlanStep[]): string {
  return call('bg_undo_missing', quotePath(runFile(runDir, RUN_FILES.steps)), shellQuote(UNDO_BACKUP_RECORD), ...steps.map((s) => String(s.index)));
}
