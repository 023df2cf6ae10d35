import { z } from 'zod';
import { requireEnvField, type ActionDef } from '../action.js';
import { backupPath, DEFAULT_BACKUPS, UNDO_BACKUP_RECORD } from '../backup-paths.js';
import { joinPath, quotePath, shellQuote } from '../quote.js';
import { shLib } from '../sh-lib.js';
import { BG_COUNTS, BG_SNAPSHOT_COPY, BG_SQL, BG_SQLQ, SQLITE_FUNCTIONS } from '../sqlite-sh.js';
import { databaseIntact, spaceForBackups, toolPresent } from '../preflight.js';
import { SQLITE } from '../sqlite-features.js';

const params = z.object({ keep: z.number().int().min(1).optional() }).strict();

/** What this action's own sqlite3 calls need of the host's sqlite3 (checked in pre-flight; see sqlite-features.ts). */
export const backupSqlite = [SQLITE.vacuumInto, SQLITE.backupCommand, SQLITE.printf];

/**
 * A consistent online copy with VACUUM INTO: unlike `cp` of a live WAL file it cannot miss
 * committed pages, and unlike `.backup` it does not restart on every outside write.
 * Row counts are read before and after the copy; equal counts bracket the copy, so the copy
 * must hold exactly them (recorded beside it for the verify step).
 */
export const backupAction: ActionDef<z.output<typeof params>> = {
  name: 'backup',
  summary: "consistent online copy of an env's SQLite database, verified and pruned",
  env: 'required',
  params,
  build({ params: p, env, host, runId }) {
    const db = requireEnvField(env, 'db');
    const envName = env!.name;
    const backups = host.backups ?? DEFAULT_BACKUPS;
    const keep = p.keep ?? backups.keep;
    const dst = backupPath(host, envName, runId);
    const vars = `src=${quotePath(db)}; dir=${quotePath(backups.dir)}; dst=${quotePath(dst)}`;
    const copy = [
      'set -e',
      vars,
      shLib(BG_SQL, BG_SQLQ, BG_COUNTS, BG_SNAPSHOT_COPY),
      `test -f "$src" || { echo "bg: database $src does not exist" >&2; exit 1; }`,
      'mkdir -p "$dir"',
      'n=0',
      'while :; do',
      '  rm -f "$dst.tmp"',
      '  if [ "$n" -ge 2 ]; then',
      // Writes keep coming: copy inside one read transaction that also reads the counts.
      '    before=$(bg_snapshot_copy "$src" "$dst.tmp")',
      '    break',
      '  fi',
      '  before=$(bg_counts "$src")',
      '  bg_sql "$src" "VACUUM INTO $(bg_sqlq "$dst.tmp")"',
      '  after=$(bg_counts "$src")',
      '  [ "$before" != "$after" ] || break',
      '  n=$((n + 1))',
      'done',
      // VACUUM INTO does not fsync its output on older SQLite versions.
      'sync "$dst.tmp"',
      'mv "$dst.tmp" "$dst"',
      `printf '%s\\n' "$before" > "$dst.counts"`,
      'echo "backed up $src to $dst"',
    ].join('\n');
    const prune = pruneScript({ dir: backups.dir, runs: joinPath(host.journal, 'runs'), envName, self: dst.split('/').pop()!, keep });
    const verify = [
      vars,
      SQLITE_FUNCTIONS,
      // The result is recorded beside the backup (`.verified`: UTC time and ok, or why not): what `bg backups` shows.
      'v() { printf \'%s %s\\n\' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" > "$dst.verified" 2>/dev/null || true; }',
      'check=$(bg_sql "$dst" "PRAGMA integrity_check")',
      '[ "$check" = ok ] || { v "failed: integrity_check"; echo "bg: integrity_check of $dst: $check" >&2; exit 1; }',
      '[ "$(bg_counts "$dst")" = "$(cat "$dst.counts")" ] || { v "failed: row counts differ"; echo "bg: row counts of $dst differ from $src at copy time" >&2; exit 1; }',
      'v ok',
    ].join('\n');
    return {
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

/**
 * Keep the newest `keep` backups of an env (this run's always among them), in the host's order of
 * runs (RUN/seq; backups of runs without one count as older, by name), never the machine clock in
 * their names. A backup that an undo not yet run restores (RUN/steps/N/backup names it, and step N
 * of that run is not undone) is never removed, whatever `keep` says: bg rollback would need it.
 */
function pruneScript(o: { dir: string; runs: string; envName: string; self: string; keep: number }): string {
  const pattern = `^${o.envName.replace(/[.[\]()*+?^$|{}\\]/g, '\\$&')}-[0-9]{8}T[0-9]{6}(\\.[0-9]{3})?Z.*\\.db$`;
  return [
    `dir=${quotePath(o.dir)}; runs=${quotePath(o.runs)}; env=${shellQuote(o.envName)}; self=${shellQuote(o.self)}`,
    '[ -d "$dir" ] || exit 0',
    // Backups still needed, by file name (the directory may be spelled differently in the record).
    `needed=$(cd "$runs" 2>/dev/null && for f in */steps/*/${UNDO_BACKUP_RECORD}; do`,
    '  [ -f "$f" ] || continue',
    '  r=${f%%/*}; n=${f#*/steps/}; n=${n%%/*}',
    "  case $n in ''|*[!0-9]*) continue ;; esac",
    `  grep -q '"event":"undone","step":'"$n"'[,}]' "$r/log" 2>/dev/null && continue`,
    '  b=$(head -n 1 "$f"); printf \'%s\\n\' "${b##*/}"',
    'done)',
    `ls -1 "$dir" | grep -E ${shellQuote(pattern)} | grep -vxF -- "$self" | while IFS= read -r f; do`,
    '  id=${f#"$env-"}; id=${id%.db}',
    '  s=$(cat "$runs/$id/seq" 2>/dev/null); case $s in \'\'|*[!0-9]*) s=0 ;; esac',
    "  printf '%s %s\\n' \"$s\" \"$f\"",
    `done | sort -k1,1nr -k2,2r | tail -n +${o.keep} | while read -r s f; do`,
    '  if printf \'%s\\n\' "$needed" | grep -qxF -- "$f"; then echo "kept $dir/$f: an undo not yet run restores it"; continue; fi',
    '  rm -f -- "$dir/$f" "$dir/$f.counts" "$dir/$f.verified"; echo "pruned $dir/$f"',
    'done',
  ].join('\n');
}
