// Read-only pre-flight checks that actions attach to their steps; the planner keeps each once.
import type { ResolvedHost } from './host-model.js';
import { quotePath, shellQuote } from './quote.js';
import type { Command } from './types.js';
import { formatVersion, newestNeeded, versionNumber, type StepNeed } from './sqlite-features.js';
import { shLib } from './sh-lib.js';
import { BG_SQLITE_VERSION } from './sqlite-sh.js';

export function toolPresent(tool: string, versionArg = '--version'): Command {
  return { cmd: `command -v ${shellQuote(tool)} >/dev/null && ${shellQuote(tool)} ${versionArg} | head -n 1`, label: `${tool} is installed` };
}

export function dirExists(dir: string): Command {
  return { cmd: `test -d ${quotePath(dir)} || { echo "bg: no directory ${dir.replace(/["$`\\]/g, '')}" >&2; exit 1; }`, label: `${dir} exists` };
}

/** The database exists and `PRAGMA quick_check` prints ok. */
export function databaseIntact(db: string): Command {
  const q = quotePath(db);
  return {
    cmd: `test -f ${q} || { echo "bg: database not found" >&2; exit 1; }; r=$(sqlite3 -bail -cmd '.timeout 10000' ${q} 'PRAGMA quick_check' 2>&1); [ "$r" = ok ] || { printf 'bg: quick_check: %s\\n' "$r" >&2; exit 1; }; echo ok`,
    label: `PRAGMA quick_check of ${db} is ok`,
  };
}

/**
 * Free space where backups go exceeds twice the size of every env database of the host (with
 * their -wal files): one check per host, whatever the number of backup steps.
 */
export function spaceForBackups(host: ResolvedHost, backupsDir: string): Command {
  const dbs = Object.values(host.envs).flatMap((e) => (e.db ? [e.db] : []));
  const files = dbs.flatMap((db) => [quotePath(db), `${quotePath(db)}-wal`]).join(' ');
  return {
    cmd: [
      // A -wal file comes and goes as connections open and close (the other checks run meanwhile):
      // one that vanished between the test and the read counts as empty.
      `need=0; for f in ${files}; do s=$(wc -c 2>/dev/null < "$f") || s=0; need=$((need + \${s:-0})); done; need=$((need * 2))`,
      // The backups directory may not exist yet: measure the filesystem of its nearest existing parent.
      `d=${quotePath(backupsDir)}; while [ ! -d "$d" ]; do d=$(dirname "$d"); done`,
      `avail=$(($(df -Pk "$d" | awk 'NR==2 {print $4}') * 1024))`,
      `[ "$avail" -gt "$need" ] || { echo "bg: $avail bytes free in $d, backups need twice the databases: $need" >&2; exit 1; }`,
      `echo "$avail bytes free, $need needed"`,
    ].join('\n'),
    label: `free space in ${backupsDir} exceeds twice the size of the databases`,
  };
}

/** The label of the sqlite3 version check (bg finds its result by it). */
export const SQLITE_VERSION_LABEL = 'sqlite3 is new enough for every step that uses it';

/**
 * The host's sqlite3 is at least what every step's own sqlite3 calls need; else one line per
 * step naming the step, the version and the feature, and the version and path the host has:
 * "step 2 (Back up BLUE) needs sqlite3 ≥ 3.27 for VACUUM INTO; the host has 3.22.0 (/usr/bin/sqlite3)".
 * Undefined when no step calls sqlite3. Step names are user data: printf arguments, quoted.
 */
export function sqliteVersionCheck(needs: readonly StepNeed[]): Command | undefined {
  if (needs.length === 0) return undefined;
  const steps = needs.map((n) => n.step).join(', ');
  const lines = [
    shLib(BG_SQLITE_VERSION),
    'bg_sqlite_version; rc=$?',
    `[ "$rc" != 1 ] || { echo ${shellQuote(`bg: no sqlite3 on the host's PATH; step${needs.length > 1 ? 's' : ''} ${steps} need${needs.length > 1 ? '' : 's'} it`)} >&2; exit 1; }`,
    `[ "$rc" = 0 ] || { printf 'bg: cannot read the version of %s from its --version output: %s\\n' "$bg_sv_path" "$bg_sv_out" >&2; exit 1; }`,
    'bad=0',
  ];
  for (const n of needs) {
    lines.push("m=''");
    // Newest requirement first, so the message names what matters most first.
    for (const f of [...n.features].sort((a, b) => versionNumber(b.since) - versionNumber(a.since)))
      lines.push(`[ "$bg_sv_num" -ge ${versionNumber(f.since)} ] || m="\${m:+$m, }"${shellQuote(`≥ ${formatVersion(f.since)} for ${f.name}`)}`);
    lines.push(`[ -z "$m" ] || { printf 'step %s (%s) needs sqlite3 %s; the host has %s (%s)\\n' ${n.step} ${shellQuote(n.name)} "$m" "$bg_sv" "$bg_sv_path" >&2; bad=1; }`);
  }
  lines.push('[ "$bad" = 0 ] || exit 1', 'echo "sqlite3 $bg_sv ($bg_sv_path)"');
  const newest = newestNeeded(needs.flatMap((n) => n.features));
  const what = [...new Set(needs.flatMap((n) => n.features).filter((f) => f.since === newest).map((f) => f.name))].join(', ');
  return { cmd: lines.join('\n'), label: `${SQLITE_VERSION_LABEL} (≥ ${formatVersion(newest)} for ${what})` };
}
