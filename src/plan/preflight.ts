// Read-only pre-flight checks that actions attach to their steps; the planner keeps each once.
import type { ResolvedHost } from './host-model.js';
import { quotePath, shellQuote } from './quote.js';
import type { Command } from './types.js';

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
