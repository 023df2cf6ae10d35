// The one way bg puts a backup in place of an env's database: migrate's undo, the restore
// action and the restore action's own undo all use this shell. The app is stopped meanwhile (and
// started again if it was online), nobody may hold the file open, the replaced database is kept
// aside (never deleted), and the row counts of both are reported.
import { quotePath, shellQuote } from './quote.js';
import { call, script } from './sh-lib.js';

export interface RestoreShOptions {
  /** The env's database (its path from the inventory, resolved; may be a symlink). */
  db: string;
  /** The backup to put in place. */
  from: string;
  /** The env's pm2 app (already checked with pm2App), stopped meanwhile. */
  app?: string;
  releaseTimeoutS: number;
  /** The replaced file is kept as `<real>.rolled-back-<runId>` (or `.restored-over-<runId>`). */
  runId: string;
  asideTag: 'rolled-back' | 'restored-over';
  /** Nothing to do (exit 0, saying `message`) when `file` is missing: the step never got that far. */
  guard?: { file: string; message: string };
  /** Said when `from` is missing. */
  missing: string;
  /**
   * Before replacing: with the app stopped, refuse when the database holds rows `from` lacks
   * (unless accepted), then copy the database as it is to `path` (verified, with its .counts and
   * .verified files) and record that path in `record` (the step's undo backup record).
   */
  before?: { path: string; record: string; acceptDataLoss: boolean; envName: string; migrationsTable: string };
  /** Check `from` with integrity_check and record the result in `<from>.verified` (else quick_check). */
  recordVerified?: boolean;
}

/**
 * The call that stops the app, swaps `from` in for the database, and starts the app again
 * (bg_restore_db in src/remote/restore.sh), after the guard when there is one.
 */
export function restoreDbScript(o: RestoreShOptions): string {
  const b = o.before;
  return script(
    o.guard && call('bg_undo_if', quotePath(o.guard.file), shellQuote(o.guard.message)),
    call(
      'bg_restore_db',
      quotePath(o.db),
      quotePath(o.from),
      shellQuote(o.app ?? ''),
      String(Math.max(1, o.releaseTimeoutS)),
      shellQuote(o.runId),
      o.asideTag,
      shellQuote(o.missing),
      o.recordVerified ? 'verify' : 'quick',
      ...(b ? [quotePath(b.path), quotePath(b.record), b.acceptDataLoss ? '1' : '0', shellQuote(b.envName), shellQuote(b.migrationsTable)] : []),
    ),
  );
}
