import { UNDO_BACKUP_RECORD } from '../plan/backup-paths.js';
import { joinPath, quotePath } from '../plan/quote.js';
import type { PlanStep } from '../plan/types.js';
import type { Transport } from '../transport/transport.js';
import { BgError, ExitCode } from '../errors.js';

/**
 * Backups the undo of these steps restores (recorded by each step, see UNDO_BACKUP_RECORD) that are
 * no longer on the host. Checked before a rollback undoes anything: a rollback that would stop at
 * a missing backup halfway must not start.
 */
export async function missingUndoBackups(transport: Transport, runDir: string, steps: PlanStep[]): Promise<Array<{ step: PlanStep; path: string }>> {
  if (steps.length === 0 || !runDir) return [];
  const script = [
    `cd ${quotePath(joinPath(runDir, 'steps'))} 2>/dev/null || exit 0`,
    `for n in ${steps.map((s) => s.index).join(' ')}; do`,
    `  f="$n/${UNDO_BACKUP_RECORD}"; [ -f "$f" ] || continue`,
    '  b=$(head -n 1 "$f"); [ -z "$b" ] || [ -f "$b" ] || printf \'%s %s\\n\' "$n" "$b"',
    'done',
  ].join('\n');
  const r = await transport.exec(script, { timeoutMs: 60_000 });
  if (r.exitCode !== 0) throw new BgError(`cannot check the backups run ${runDir} needs on ${transport.host}: ${r.stderr.trim() || `exit ${r.exitCode}`}`, ExitCode.stepFailed);
  const out: Array<{ step: PlanStep; path: string }> = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^(\d+) (.+)$/.exec(line);
    const step = m && steps.find((s) => s.index === Number(m[1]));
    if (step) out.push({ step, path: m[2]! });
  }
  return out;
}
