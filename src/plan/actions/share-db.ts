import { z } from 'zod';
import { PlanProblem, type ActionDef } from '../action.js';
import { duration } from '../duration.js';
import { BG_SCHEMA_COMPARE } from '../fingerprint-sh.js';
import { BG_HOLDERS, BG_DESCRIBE_PIDS, BG_PM2_PROCS, BG_PM2_WAIT_ONLINE, BG_WAIT_RELEASED, pm2App, pm2AppKnown } from '../pm2-sh.js';
import { databaseIntact, toolPresent } from '../preflight.js';
import { quotePath, shellQuote } from '../quote.js';
import { script, shLib } from '../sh-lib.js';
import { BG_COUNTS, BG_DOTQ, BG_EXTRA, BG_SQL } from '../sqlite-sh.js';
import { stepDirVar } from '../step-dir.js';
import { BG_PICK_BASE, dbEnvs, dbParams, envTable } from './db-common.js';
import { SQLITE } from '../sqlite-features.js';

const params = z
  .object({
    ...dbParams,
    /** `auto`: the env whose database holds every row of the others (refuse if none). Or an env name. */
    base: z.string().min(1).default('auto'),
    /** Refuse when the databases' schema fingerprints differ (a shared database serves every env's code). */
    same_schema: z.boolean().default(true),
    /** How long processes may take to let go of the databases once their apps are stopped. */
    release_timeout: duration.default(15_000),
    /** How long the apps may take to come back online on the shared database. */
    wait: duration.default(30_000),
  })
  .strict();

const secs = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/** What this action's own sqlite3 calls need of the host's sqlite3 (checked in pre-flight; see sqlite-features.ts). */
export const shareDbSqlite = [SQLITE.pragmaFunctions, SQLITE.walCheckpointTruncate, SQLITE.backupCommand, SQLITE.printf, SQLITE.charFunction, SQLITE.instr];

/**
 * Move every env onto the host's `shared_db` without losing a write the live app acknowledged:
 *
 *   1. freeze: `pm2 stop` every env's app, then wait until no process has any env database open
 *      (checked in /proc by inode). From here nothing can write: every acknowledged write is
 *      committed in the env's database (or its WAL).
 *   2. check: same schema fingerprint everywhere; pick the base = the env whose database holds
 *      every row of the others (by content), or refuse; `with.base` overrides.
 *   3. copy: `.backup` of the base (exact page copy, consistent: nobody writes) to a temporary
 *      name beside shared_db, integrity_check = ok and row counts equal to the base, then renamed
 *      into place. Each old database is checkpointed so it is complete without its WAL.
 *   4. switch: per env, the old file is hard-linked to DB.OLD and DB is atomically replaced by a
 *      symlink to shared_db (`ln -sfn` + `mv -T`): the path never disappears.
 *   5. restart: `pm2 start` the apps that were online.
 *   verify: every pm2 process of every env has shared_db open (/proc/PID/fd, by inode); no process
 *      has any DB.OLD open, no DB-wal appeared beside a link, the old files did not change since
 *      the copy, quick_check of shared_db = ok. The .OLD files are kept for rollback.
 *
 * Undo: stop the apps, put each DB.OLD back under its name (atomic rename over the link), keep
 * shared_db as shared_db.rolled-back-RUNID when the apps ran on it (reporting rows written meanwhile)
 * or remove it when they never did, and start the apps that were online.
 */
export const shareDbAction: ActionDef<z.output<typeof params>> = {
  name: 'share-db',
  summary: "move every env onto the host's shared_db (write freeze, consistent copy, atomic switch)",
  env: 'none',
  params,
  build(input) {
    const { params: p, host, runId } = input;
    if (!host.sharedDb) throw new PlanProblem(`host \`${host.name}\` has no \`shared_db\` in the inventory`, ['action']);
    const envs = dbEnvs(host, p.envs, ['app']);
    for (const e of envs) pm2App(e.app!, ['with', 'envs'], `env ${e.name}'s app in the inventory`);
    if (p.base !== 'auto' && !envs.some((e) => e.name === p.base))
      throw new PlanProblem(`\`base\` must be auto or one of ${envs.map((e) => e.name).join(', ')}`, ['with', 'base']);
    const mig = `${shellQuote(p.migrations_table)} ${shellQuote(p.migrations_column)}`;
    const head = script(stepDirVar(input), `shared=${quotePath(host.sharedDb)}`, envTable(envs));
    const healthOf = `health_of() { case $1 in ${envs.map((e) => `${e.name}) printf '%s' ${e.health ? shellQuote(e.health) : "''"} ;;`).join(' ')} esac; }`;
    const wasOnline = 'grep -qx "$e online" "$sd/apps"';
    const allDbs = 'set --; for e in $envs; do set -- "$@" "$(db_of "$e")"; done';
    // Size and modification time of an old database: equal later means nothing wrote to it.
    const identity = (f: string) => `"$(wc -c < ${f} | tr -d ' ') $(date -r ${f} +%s%N)"`;

    const capture = script(
      head,
      shLib(BG_PM2_PROCS),
      'mkdir -p "$sd"',
      ': > "$sd/apps.tmp"',
      'for e in $envs; do',
      '  a=$(app_of "$e"); procs=$(bg_pm2_procs "$a") || exit 1',
      '  [ -n "$procs" ] || { echo "bg: pm2 knows no app named $a (env $e): check the inventory and PM2_HOME" >&2; exit 1; }',
      `  if printf '%s\\n' "$procs" | grep -q ' online '; then echo "$e online"; else echo "$e down"; fi >> "$sd/apps.tmp"`,
      'done',
      'mv "$sd/apps.tmp" "$sd/apps"',
    );

    const freeze = script(
      'set -e',
      head,
      shLib(BG_WAIT_RELEASED),
      'for e in $envs; do',
      '  db=$(db_of "$e")',
      '  [ -f "$db" ] && [ ! -L "$db" ] || { echo "bg: $db ($e) is not a regular file: already shared? (nothing was changed)" >&2; exit 1; }',
      '  if [ -e "$db.OLD" ] || [ -L "$db.OLD" ]; then echo "bg: $db.OLD already exists: move it away first (nothing was changed)" >&2; exit 1; fi',
      'done',
      'if [ -e "$shared" ] || [ -L "$shared" ]; then echo "bg: the shared database $shared already exists: bg will not overwrite it (nothing was changed)" >&2; exit 1; fi',
      'mkdir -p "$(dirname "$shared")"',
      'for e in $envs; do pm2 stop "$(app_of "$e")" >/dev/null; done',
      allDbs,
      `bg_wait_released ${secs(p.release_timeout)} "$@"`,
      'echo "writes frozen: the apps of $envs are stopped and no process has their databases open"',
    );

    const copy = script(
      'set -e',
      head,
      `base=${shellQuote(p.base)}`,
      shLib(BG_SQL, BG_DOTQ, BG_COUNTS, BG_PICK_BASE, ...(p.same_schema ? [BG_SCHEMA_COMPARE] : [])),
      p.same_schema
        ? script(
            "first=''",
            'for e in $envs; do',
            '  if [ -z "$first" ]; then first=$e; continue; fi',
            `  bg_schema_compare "$first" "$(db_of "$first")" "$e" "$(db_of "$e")" ${mig} >/dev/null || { echo "bg: refusing to share databases whose schemas differ (phase1 brings them level)" >&2; exit 1; }`,
            'done',
          )
        : '',
      `bg_pick_base ${mig} > "$sd/rows"`,
      'cat "$sd/rows"',
      'if [ "$base" = auto ]; then',
      `  [ -n "$bg_base" ] || { echo "bg: each database holds rows another lacks, so share-db will not choose a base:" >&2; grep '^rows in ' "$sd/rows" | sed 's/^/  /' >&2; echo "  give with.base (phase2: --var base=ENV); the rows only the others hold then stay in their .OLD files" >&2; exit 1; }`,
      '  base=$bg_base',
      'fi',
      'echo "$base" > "$sd/base"',
      'src=$(db_of "$base")',
      // Each old database complete on its own (WAL folded in), so its .OLD needs no -wal beside it.
      'for e in $envs; do',
      '  db=$(db_of "$e")',
      `  bg_sql "$db" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null`,
      '  [ ! -s "$db-wal" ] || { echo "bg: $db-wal is not empty after a checkpoint" >&2; exit 1; }',
      'done',
      'tmp="$shared.bg-tmp"',
      'rm -f "$tmp" "$tmp-wal" "$tmp-shm" "$tmp-journal"',
      'echo "$shared" > "$sd/shared"',
      // Nobody writes: the online backup copies every page at once, exactly (rowids included).
      'bg_sql "$src" ".backup $(bg_dotq "$tmp")"',
      'sync "$tmp"',
      `check=$(bg_sql "$tmp" 'PRAGMA integrity_check')`,
      '[ "$check" = ok ] || { echo "bg: integrity_check of the copy: $check" >&2; exit 1; }',
      'bg_counts "$src" > "$sd/counts"',
      '[ "$(bg_counts "$tmp")" = "$(cat "$sd/counts")" ] || { echo "bg: the copy does not hold the rows of $src" >&2; exit 1; }',
      'chmod --reference="$src" "$tmp" 2>/dev/null || true',
      'mv "$tmp" "$shared"',
      'sync "$shared" "$(dirname "$shared")" 2>/dev/null || sync',
      `for e in $envs; do db=$(db_of "$e"); rm -f "$db-wal" "$db-shm"; echo ${identity('"$db"')} > "$sd/old-$e"; done`,
      `echo "copied $base ($src) to $shared: integrity ok; rows: $(tr '\\n' ' ' < "$sd/counts")"`,
    );

    const switchAll = script(
      'set -e',
      head,
      'target=$(readlink -f "$shared")',
      'for e in $envs; do',
      '  db=$(db_of "$e")',
      '  echo "$e" >> "$sd/switched"',
      '  ln -- "$db" "$db.OLD"',
      '  ln -sfn -- "$target" "$db.bg-tmp"',
      '  mv -T -- "$db.bg-tmp" "$db"',
      '  [ "$(readlink -f "$db")" = "$target" ] || { echo "bg: $db does not resolve to $target" >&2; exit 1; }',
      '  echo "$db -> $target (old file kept as $db.OLD)"',
      'done',
    );

    const restart = script(
      'set -e',
      head,
      shLib(BG_PM2_WAIT_ONLINE),
      'echo started > "$sd/started"',
      'for e in $envs; do if ' + wasOnline + '; then pm2 start "$(app_of "$e")" >/dev/null; fi; done',
      `for e in $envs; do if ${wasOnline}; then bg_pm2_wait_online "$(app_of "$e")" ${secs(p.wait)}; fi; done`,
      'echo "the apps of $envs are back, on $shared"',
    );

    const verifyOpen = script(
      head,
      healthOf,
      shLib(BG_PM2_PROCS),
      'target=$(readlink -f "$shared")',
      'for e in $envs; do',
      '  db=$(db_of "$e"); a=$(app_of "$e")',
      '  [ -L "$db" ] && [ "$(readlink -f "$db")" = "$target" ] || { echo "bg: $db does not resolve to $target" >&2; exit 1; }',
      `  ${wasOnline} || continue`,
      // An app that opens its database on first use gets one request.
      '  h=$(health_of "$e"); [ -z "$h" ] || curl -s -g --proto =http,https -o /dev/null --max-time 2 --url "$h" || true',
      '  procs=$(bg_pm2_procs "$a") || exit 1',
      '  [ -n "$procs" ] || { echo "bg: pm2 lists no process of $a" >&2; exit 1; }',
      `  for pid in $(printf '%s\\n' "$procs" | awk '{ print $1 }'); do`,
      '    [ "$pid" -gt 0 ] || { echo "bg: a process of $a is not running" >&2; exit 1; }',
      '    [ -r "/proc/$pid/fd" ] || { echo "bg: cannot read /proc/$pid/fd ($a): log in as the user that runs the apps (or root)" >&2; exit 1; }',
      '    [ -n "$(find -L /proc/"$pid"/fd -maxdepth 1 -samefile "$target" 2>/dev/null)" ] || { echo "bg: pid $pid ($a) does not have $target open" >&2; exit 1; }',
      '  done',
      `  echo "$e: $a pid(s) $(printf '%s\\n' "$procs" | awk '{ print $1 }' | tr '\\n' ' ')have $target open"`,
      'done',
    );
    const verifyOld = script(
      head,
      shLib(BG_SQL, BG_HOLDERS, BG_DESCRIBE_PIDS),
      'for e in $envs; do',
      '  db=$(db_of "$e")',
      '  h=$(bg_holders "$db.OLD")',
      '  [ -z "$h" ] || { echo "bg: process(es) $h still have the old database $db.OLD open: their writes would be lost" >&2; bg_describe_pids $h >&2; exit 1; }',
      '  [ ! -e "$db-wal" ] || { echo "bg: $db-wal appeared beside the link: a process wrote to the old database after the copy" >&2; exit 1; }',
      `  [ ${identity('"$db.OLD"')} = "$(cat "$sd/old-$e")" ] || { echo "bg: $db.OLD changed after the copy: a process wrote to it" >&2; exit 1; }`,
      'done',
      `check=$(bg_sql "$shared" 'PRAGMA quick_check') || exit 1`,
      '[ "$check" = ok ] || { echo "bg: quick_check of $shared: $check" >&2; exit 1; }',
      'echo "no process has an old database open; the old files are unchanged since the copy; $shared passes quick_check"',
    );

    const undo = script(
      head,
      `runid=${shellQuote(runId)}`,
      shLib(BG_SQL, BG_COUNTS, BG_WAIT_RELEASED, BG_PM2_WAIT_ONLINE),
      '[ -f "$sd/apps" ] || { echo "nothing to undo: share-db never started"; exit 0; }',
      'if [ -f "$sd/started" ] || [ -f "$sd/switched" ]; then',
      '  for e in $envs; do pm2 stop "$(app_of "$e")" >/dev/null || exit 1; done',
      `  ${allDbs}; [ ! -e "$shared" ] || set -- "$@" "$shared"`,
      `  bg_wait_released ${secs(p.release_timeout)} "$@" || exit 1`,
      'fi',
      'for e in $envs; do',
      '  db=$(db_of "$e"); rm -f "$db.bg-tmp"',
      '  if [ -L "$db" ] && [ -f "$db.OLD" ]; then mv -T -- "$db.OLD" "$db" || exit 1; echo "$e: $db is its own database again"',
      '  elif [ -f "$db.OLD" ] && [ "$db.OLD" -ef "$db" ]; then rm -f "$db.OLD"',
      '  elif [ -e "$db.OLD" ] || [ -L "$db" ]; then echo "bg: cannot undo: $db and $db.OLD are not as share-db left them" >&2; exit 1',
      '  fi',
      'done',
      'if [ -f "$sd/shared" ]; then',
      '  rm -f "$shared.bg-tmp" "$shared.bg-tmp-wal" "$shared.bg-tmp-shm" "$shared.bg-tmp-journal"',
      '  if [ -f "$shared" ] && [ -f "$sd/started" ]; then',
      `    bg_sql "$shared" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null || exit 1`,
      '    kept="$shared.rolled-back-$runid"; [ ! -e "$kept" ] || kept="$kept.$(date +%s)"',
      '    mv "$shared" "$kept" || exit 1; rm -f "$shared-wal" "$shared-shm"',
      `    now=$(bg_counts "$kept" | tr '\\n' ' '); was=$(tr '\\n' ' ' < "$sd/counts" 2>/dev/null)`,
      '    echo "the shared database is kept as $kept"',
      '    [ "$now" = "$was" ] || echo "rows per table there: $now (at the copy: $was): rows written while shared are only in $kept"',
      '  elif [ -f "$shared" ]; then',
      '    rm -f "$shared" "$shared-wal" "$shared-shm"; echo "removed $shared (no app had used it)"',
      '  fi',
      'fi',
      'for e in $envs; do',
      `  ${wasOnline} || continue`,
      '  a=$(app_of "$e")',
      `  bg_pm2_procs "$a" | grep -q ' online ' || pm2 start "$a" >/dev/null || exit 1`,
      `  bg_pm2_wait_online "$a" ${secs(p.wait)} || exit 1`,
      '  echo "$e: $a online on $(db_of "$e")"',
      'done',
    );

    // What the undo would discard: rows written to the shared database that the base's own
    // database (DB.OLD, which the undo puts back) lacks.
    const discardCheck = script(
      head,
      shLib(BG_EXTRA),
      '[ -f "$sd/started" ] && [ -f "$sd/base" ] && [ -f "$shared" ] || exit 0',
      'base=$(cat "$sd/base"); old="$(db_of "$base").OLD"',
      '[ -f "$old" ] || exit 0',
      `x=$(bg_extra "$old" "$shared" ${mig}) || exit 1`,
      `[ -z "$x" ] || echo "rows written to $shared while the envs shared it, not in $base's own database: $(printf '%s\n' "$x" | sed 's/|/ /' | tr '\n' ',' | sed 's/,$//; s/,/, /g') (the shared database is kept as $shared.rolled-back-${runId})"`,
    );
    // Pre-flight: the layout share-db starts from, and room for one copy of the largest database.
    const ready = script(
      `shared=${quotePath(host.sharedDb)}`,
      envTable(envs),
      'need=0',
      'for e in $envs; do',
      '  db=$(db_of "$e")',
      '  [ -f "$db" ] && [ ! -L "$db" ] || { echo "bg: $db ($e) is not a regular file: already shared?" >&2; exit 1; }',
      '  [ ! -e "$db.OLD" ] && [ ! -L "$db.OLD" ] || { echo "bg: $db.OLD exists: move it away first" >&2; exit 1; }',
      `  n=$(( $(wc -c < "$db") + $( [ -f "$db-wal" ] && wc -c < "$db-wal" || echo 0) )); [ "$n" -le "$need" ] || need=$n`,
      'done',
      '[ ! -e "$shared" ] && [ ! -L "$shared" ] || { echo "bg: the shared database $shared already exists" >&2; exit 1; }',
      'd=$(dirname "$shared"); while [ ! -d "$d" ]; do d=$(dirname "$d"); done',
      `avail=$(($(df -Pk "$d" | awk 'NR==2 { print $4 }') * 1024))`,
      '[ "$avail" -gt "$need" ] || { echo "bg: $avail bytes free in $d; the shared copy needs $need" >&2; exit 1; }',
      'echo "ready: $avail bytes free in $d, the copy needs at most $need"',
    );
    const names = envs.map((e) => e.name).join(', ');
    return {
      mutates: true,
      preflight: [
        toolPresent('sqlite3'),
        ...envs.map((e) => databaseIntact(e.db)),
        ...envs.map((e) => pm2AppKnown(e.app!)),
        { cmd: ready, label: `${names}: own database files, no .OLD beside them, no ${host.sharedDb} yet, room for the copy` },
      ],
      discardCheck: [{ cmd: discardCheck, label: 'rows written to the shared database since the switch' }],
      capture: [{ cmd: capture, label: `record which apps of ${names} are online` }],
      run: [
        { cmd: freeze, label: `freeze writes: stop the apps of ${names}, wait until nothing has their databases open` },
        { cmd: copy, label: `same schema; pick the base${p.base === 'auto' ? '' : ` (${p.base})`}; consistent copy to ${host.sharedDb}` },
        { cmd: switchAll, label: `each env's database becomes a symlink to ${host.sharedDb} (old file kept as .OLD)` },
        { cmd: restart, label: `start the apps of ${names} again` },
      ],
      verify: [
        { cmd: verifyOpen, label: `every pm2 process of ${names} has ${host.sharedDb} open (/proc/PID/fd)`, retry: { attempts: 20, intervalMs: 500, factor: 1, maxIntervalMs: 500 } },
        { cmd: verifyOld, label: 'no process has an old database open; the old files are unchanged since the copy' },
      ],
      undo: [{ cmd: undo, label: `each env back on its own database (${names}); apps restarted` }],
    };
  },
};
