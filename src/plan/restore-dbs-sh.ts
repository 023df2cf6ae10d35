// The one shell that puts the backups of several databases of an env in place (`dbs:`):
// bg_restore_dbs in src/remote/restore-dbs.sh, with the app stopped once around all of them.
import { quotePath, shellQuote } from './quote.js';
import { call, script } from './sh-lib.js';

/** One database to restore. */
export interface RestoreDbEntry {
  /** The database (its path from the inventory, resolved; may be a symlink). */
  db: string;
  /** The backup to put in place. */
  from: string;
  /** Restore it only when this file exists (the step recorded its backup); undefined: always. */
  onlyIf?: string;
  /** Said when `from` is missing (the restore fails before anything stops); undefined: a missing backup leaves this database as it is. */
  missing?: string;
  /** With the app stopped, first copy the database as it is to `path` and record that path in `record` (what the undo restores). */
  before?: { path: string; record: string };
}

export interface RestoreDbsOptions {
  /** The env's pm2 app (already checked with pm2App), stopped once meanwhile. */
  app?: string;
  releaseTimeoutS: number;
  runId: string;
  asideTag: 'rolled-back' | 'restored-over';
  /** `verify`: integrity_check of each backup, recorded in `<from>.verified`; else quick_check. */
  recordVerified?: boolean;
  /** With `before`: go ahead although a database holds rows its backup lacks. */
  acceptDataLoss?: boolean;
  envName: string;
  migrationsTable?: string;
  /** Nothing to do (exit 0, saying `message`) when `file` is missing: the step never got that far. */
  guard?: { file: string; message: string };
  dbs: RestoreDbEntry[];
}

/** The call that stops the app once, swaps each backup in for its database, and starts the app again. */
export function restoreDbsScript(o: RestoreDbsOptions): string {
  return script(
    o.guard && call('bg_undo_if', quotePath(o.guard.file), shellQuote(o.guard.message)),
    call(
      'bg_restore_dbs',
      shellQuote(o.app ?? ''),
      String(Math.max(1, o.releaseTimeoutS)),
      shellQuote(o.runId),
      o.asideTag,
      o.recordVerified ? 'verify' : 'quick',
      o.acceptDataLoss ? '1' : '0',
      shellQuote(o.envName),
      shellQuote(o.migrationsTable ?? 'migrations'),
      ...o.dbs.flatMap((d) => [quotePath(d.db), quotePath(d.from), d.onlyIf === undefined ? shellQuote('') : quotePath(d.onlyIf), shellQuote(d.missing ?? ''), d.before ? quotePath(d.before.path) : shellQuote(''), d.before ? quotePath(d.before.record) : shellQuote('')]),
    ),
  );
}
