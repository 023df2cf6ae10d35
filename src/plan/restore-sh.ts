// The one way bg puts a backup in place of an env's database: migrate's undo, the restore
// action and the restore action's own undo all use this shell. The app is stopped meanwhile (and
// started again if it was online), nobody may hold the file open, the replaced database is kept
// aside (never deleted), and the row counts of both are reported.
import { BG_PM2_PROCS, BG_PM2_WAIT_ONLINE, BG_WAIT_RELEASED } from './pm2-sh.js';
import { quotePath, shellQuote } from './quote.js';
import { script, shFn, shLib } from './sh-lib.js';
import { BG_COUNTS, BG_EXTRA, BG_SQL, BG_SQLQ } from './sqlite-sh.js';

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
  /** Lines before anything else (e.g. `sd=…`), and a guard that exits 0 when there is nothing to do. */
  preamble?: string[];
  /** Said when `from` is missing. */
  missing: string;
  /**
   * Before replacing: with the app stopped, refuse when the database holds rows `from` lacks
   * (unless accepted), then copy the database as it is to `path` (verified, with its .counts and
   * .verified files) and record that path in `record` (the step's undo backup record).
   */
  before?: { path: string; record: string; acceptDataLoss: boolean; envName: string; migrationsTable: string };
  /** Append "`date` ok" (or the failure) to `<from>.verified` after checking `from`. */
  recordVerified?: boolean;
}

/** `bg_mark_verified FILE RESULT` (src/remote/db.sh). */
export const BG_MARK_VERIFIED = shFn('bg_mark_verified');

/** The script that stops the app, swaps `from` in for the database, and starts the app again. */
export function restoreDbScript(o: RestoreShOptions): string {
  const app = o.app;
  const b = o.before;
  return script(
    'set -e',
    ...(o.preamble ?? []),
    `db=${quotePath(o.db)}; bak=${quotePath(o.from)}${app ? `; app=${shellQuote(app)}` : ''}`,
    b ? `before=${quotePath(b.path)}; record=${quotePath(b.record)}; mt=${shellQuote(b.migrationsTable)}` : '',
    shLib(BG_SQL, BG_COUNTS, BG_WAIT_RELEASED, ...(app ? [BG_PM2_PROCS, BG_PM2_WAIT_ONLINE] : []), ...(b ? [BG_SQLQ, BG_EXTRA] : []), ...(o.recordVerified ? [BG_MARK_VERIFIED] : [])),
    `test -f "$bak" || { echo ${shellQuote(o.missing)} >&2; exit 1; }`,
    o.recordVerified
      ? 'check=$(bg_sql "$bak" \'PRAGMA integrity_check\' 2>&1) || true; [ "$check" = ok ] || { bg_mark_verified "$bak" "failed: $(printf \'%s\' "$check" | head -n 1)"; echo "bg: the backup $bak fails integrity_check: $check" >&2; exit 1; }; bg_mark_verified "$bak" ok'
      : `check=$(bg_sql "$bak" 'PRAGMA quick_check')`,
    o.recordVerified ? '' : '[ "$check" = ok ] || { echo "bg: cannot undo: the backup $bak fails quick_check: $check" >&2; exit 1; }',
    // The file itself when the env's path is a symlink (e.g. to the shared database).
    'real=$(readlink -f "$db" || true); [ -n "$real" ] || real=$db',
    `aside="$real.${o.asideTag}-${o.runId}"; [ ! -e "$aside" ] || aside="$aside.$(date +%s)"`,
    "restart=''; swapped=''",
    // Stopped half-way (a failure, Ctrl-C, SIGTERM, a timeout): an app this script stopped is started
    // again whenever a database is in place (the old one, or the restored one); only while neither is
    // does it stay stopped, and the message says so. INT/TERM exit through this trap too.
    `trap 'rc=$?; trap - EXIT; [ "$rc" -eq 0 ] || [ -z "$restart" ] || bg_restore_leftover "$app" "$real" "$swapped" "$bak"; exit "$rc"' EXIT`,
    "trap 'exit 130' INT; trap 'exit 143' TERM",
    app
      ? script(
          `procs=$(bg_pm2_procs "$app")`,
          `if printf '%s\\n' "$procs" | grep -q ' online '; then restart=1; pm2 stop "$app" >/dev/null; echo "stopped $app"; fi`,
        )
      : '',
    // Nobody may keep the file open: a process would go on writing to the replaced file.
    `if ! bg_wait_released ${Math.max(1, o.releaseTimeoutS)} "$real"; then`,
    '  [ -z "$restart" ] || { pm2 start "$app" >/dev/null; restart=\'\'; }',
    '  echo "bg: cannot restore $real while a process has it open; stop it, then run bg rollback again" >&2; exit 1',
    'fi',
    b ? beforeCopy(b.acceptDataLoss, b.envName) : '',
    'mode=delete; [ ! -f "$real" ] || mode=$(bg_sql "$real" "PRAGMA journal_mode")',
    'cp "$bak" "$real.restore-tmp"',
    '[ "$mode" != wal ] || bg_sql "$real.restore-tmp" "PRAGMA journal_mode=WAL" >/dev/null',
    'sync "$real.restore-tmp"',
    'if [ -f "$real" ]; then',
    // Fold the WAL into the file, so that the copy kept aside is complete on its own.
    '  bg_sql "$real" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null',
    '  chmod --reference="$real" "$real.restore-tmp" 2>/dev/null || true',
    '  mv -f "$real" "$aside"',
    'fi',
    'rm -f "$real-wal" "$real-shm" "$real-journal"',
    'mv -f "$real.restore-tmp" "$real"',
    'swapped=1',
    'echo "restored $real from $bak"',
    'if [ -f "$aside" ]; then',
    `  echo "the ${o.asideTag === 'rolled-back' ? 'migrated' : 'replaced'} database is kept as $aside"`,
    '  was=$(bg_counts "$aside" | tr \'\\n\' \' \'); now=$(bg_counts "$real" | tr \'\\n\' \' \')',
    `  [ "$was" = "$now" ] || echo "rows per table: ${o.asideTag === 'rolled-back' ? 'migrated' : 'replaced'} database $was; restored $now (rows written after the backup are only in $aside)"`,
    'fi',
    app ? 'if [ -n "$restart" ]; then pm2 start "$app" >/dev/null; bg_pm2_wait_online "$app" 30; restart=\'\'; echo "started $app"; fi' : '',
  );
}

/**
 * With the app stopped (no more writes): what restoring would discard, refused unless accepted;
 * then the database as it is now, copied to this run's backup: what the undo puts back. Recorded
 * in the step's undo record only once verified, so an undo never restores a half-made copy.
 */
function beforeCopy(accept: boolean, envName: string): string {
  return script(
    'if [ -f "$real" ]; then',
    '  x=$(bg_extra "$bak" "$real" "$mt") || exit 1',
    `  x=$(printf '%s\\n' "$x" | awk -F '|' 'NF { printf "%s%s %s rows", (n++ ? ", " : ""), $1, $2 }')`,
    '  if [ -n "$x" ]; then',
    accept
      ? `    echo ${shellQuote(`restoring discards rows of ${envName} written after the backup (accepted; they stay in the copy kept aside): `)}"$x"`
      : script(
          '    [ -z "$restart" ] || { pm2 start "$app" >/dev/null; restart=\'\'; }',
          `    echo ${shellQuote(`bg: restoring would discard rows of ${envName} written after the backup: `)}"$x" >&2`,
          `    echo "bg: nothing was changed; pass --accept-data-loss to restore anyway (the database as it is now is kept aside)" >&2`,
          '    exit 1',
        ),
    '  fi',
    '  mkdir -p "$(dirname "$before")"',
    '  rm -f "$before.tmp"',
    '  bg_sql "$real" "VACUUM INTO $(bg_sqlq "$before.tmp")"',
    '  sync "$before.tmp"',
    '  [ "$(bg_sql "$before.tmp" "PRAGMA integrity_check")" = ok ] || { echo "bg: the copy of $real taken before the restore fails integrity_check" >&2; exit 1; }',
    '  [ "$(bg_counts "$before.tmp")" = "$(bg_counts "$real")" ] || { echo "bg: the copy of $real taken before the restore lacks rows" >&2; exit 1; }',
    '  mv -f "$before.tmp" "$before"',
    '  bg_counts "$real" > "$before.counts"',
    `  printf '%s ok\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$before.verified"`,
    '  mkdir -p "$(dirname "$record")"',
    `  printf '%s\\n' "$before" > "$record"`,
    '  echo "the database as it was is backed up to $before (undo restores it)"',
    'fi',
  );
}
