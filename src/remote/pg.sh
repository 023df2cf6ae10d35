# shellcheck shell=sh
# PostgreSQL envs: the client tools run with the connection in PG* variables (never in SQL or argv),
# a schema fingerprint from pg_catalog, and backups with pg_dump -Fc verified by a scratch restore.
# A connection is six words: HOST PORT DATABASE USER SERVICE PASSWORD (empty: libpq's default).

# bg_pg_export HOST PORT DATABASE USER SERVICE PASSWORD: export libpq's PG* variables in this shell (call it in a subshell).
bg_pg_export() {
  if [ -n "$1" ]; then PGHOST=$1; export PGHOST; fi
  if [ -n "$2" ]; then PGPORT=$2; export PGPORT; fi
  PGDATABASE=$3; export PGDATABASE
  if [ -n "$4" ]; then PGUSER=$4; export PGUSER; fi
  if [ -n "$5" ]; then PGSERVICE=$5; export PGSERVICE; fi
  if [ -n "$6" ]; then PGPASSWORD=$6; export PGPASSWORD; fi
  PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-10}; export PGCONNECT_TIMEOUT
}

# bg_pg HOST PORT DATABASE USER SERVICE PASSWORD CMD...: run CMD with PGHOST... exported in a subshell only.
bg_pg() {
  (
    bg_pg_export "$1" "$2" "$3" "$4" "$5" "$6"
    shift 6
    exec "$@"
  )
}

# bg_pg_sql CONN(6) [PSQL OPTION...]: psql reading SQL from stdin, unaligned, tuples only, stopping at the first error.
bg_pg_sql() {
  bg_c1=$1; bg_c2=$2; bg_c3=$3; bg_c4=$4; bg_c5=$5; bg_c6=$6; shift 6
  # -w: never prompt for a password (there is no one to answer): fail with libpq's reason instead.
  bg_pg "$bg_c1" "$bg_c2" "$bg_c3" "$bg_c4" "$bg_c5" "$bg_c6" psql -X -w -q -A -t -v ON_ERROR_STOP=1 "$@"
}

# Facts one a line (user schemas only; extension members left out), with names, never OIDs or positions that depend on creation order.
BG_PG_SCHEMA_SQL="
WITH ns AS (SELECT oid, nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp%'),
ext AS (SELECT objid FROM pg_depend WHERE deptype = 'e'),
rel AS (SELECT c.oid, c.relkind, c.relpersistence, format('%I.%I', ns.nspname, c.relname) AS q FROM pg_class c JOIN ns ON ns.oid = c.relnamespace WHERE c.oid NOT IN (SELECT objid FROM ext))
SELECT 'table ' || q || CASE relpersistence WHEN 'u' THEN ' unlogged' ELSE '' END || CASE relkind WHEN 'p' THEN ' partitioned' ELSE '' END FROM rel WHERE relkind IN ('r', 'p')
UNION ALL
SELECT format('column %s.%I #%s %s%s%s', r.q, a.attname, row_number() OVER (PARTITION BY r.oid ORDER BY a.attnum), format_type(a.atttypid, a.atttypmod), CASE WHEN a.attnotnull THEN ' not null' ELSE '' END, coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), ''))
  FROM rel r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped LEFT JOIN pg_attrdef d ON d.adrelid = r.oid AND d.adnum = a.attnum WHERE r.relkind IN ('r', 'p', 'v', 'm')
UNION ALL
SELECT format('constraint %s %I: %s%s', r.q, k.conname, pg_get_constraintdef(k.oid), CASE WHEN k.convalidated THEN '' ELSE ' (not valid)' END) FROM pg_constraint k JOIN rel r ON r.oid = k.conrelid
UNION ALL
SELECT format('index %s on %s%s: %s%s', i.q, r.q, CASE WHEN x.indisunique THEN ' unique' ELSE '' END, pg_get_indexdef(x.indexrelid), CASE WHEN x.indisvalid THEN '' ELSE ' (invalid)' END) FROM pg_index x JOIN rel i ON i.oid = x.indexrelid JOIN rel r ON r.oid = x.indrelid
UNION ALL
SELECT format('sequence %s %s start %s increment %s min %s max %s cache %s%s', r.q, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, CASE WHEN s.seqcycle THEN ' cycle' ELSE '' END) FROM pg_sequence s JOIN rel r ON r.oid = s.seqrelid
UNION ALL
SELECT format('%s %s: %s', CASE relkind WHEN 'v' THEN 'view' ELSE 'materialized view' END, q, pg_get_viewdef(oid)) FROM rel WHERE relkind IN ('v', 'm')
UNION ALL
SELECT format('trigger %s %I: %s', r.q, t.tgname, pg_get_triggerdef(t.oid)) FROM pg_trigger t JOIN rel r ON r.oid = t.tgrelid WHERE NOT t.tgisinternal
UNION ALL
SELECT format('function %I.%I(%s) returns %s: md5 %s', ns.nspname, p.proname, pg_get_function_identity_arguments(p.oid), pg_get_function_result(p.oid), md5(pg_get_functiondef(p.oid))) FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace WHERE p.prokind IN ('f', 'p') AND p.oid NOT IN (SELECT objid FROM ext)
UNION ALL
SELECT format('extension %I %s', extname, extversion) FROM pg_extension;
"

# Applied migrations: psql variables mt and mc are quoted by psql itself (:'mt'), so the names are data.
BG_PG_MIGRATIONS_SQL="
SELECT CASE WHEN count(*) = 1 THEN format('SELECT %L || %I::text FROM %I WHERE %I IS NOT NULL', 'migration ', :'mc', :'mt', :'mc') ELSE format('SELECT %L', 'migrations: no table ' || :'mt' || ' with a column ' || :'mc') END
  FROM pg_attribute a WHERE a.attrelid = to_regclass(quote_ident(:'mt')) AND a.attname = :'mc' AND NOT a.attisdropped \\gexec
"

# bg_pg_schema CONN(6) [MIGRATIONS_TABLE [COLUMN]]: the normalised schema and applied migrations, one fact a line, sorted.
bg_pg_schema() {
  bg_ps=$(printf '%s\n%s\n%s\n' "${BG_PG_TX:-}" "$BG_PG_SCHEMA_SQL" "$BG_PG_MIGRATIONS_SQL" | bg_pg_sql "$1" "$2" "$3" "$4" "$5" "$6" -v mt="${7:-migrations}" -v mc="${8:-name}") || return 1
  # Definitions may span lines (views): one fact a line, whitespace runs as one space.
  printf '%s\n' "$bg_ps" | awk '/^(table|column|constraint|index|sequence|view|materialized view|trigger|function|extension|migration|migrations:) / { if (l != "") print l; l = $0; next } { l = l " " $0 } END { if (l != "") print l }' | tr -s ' \t' '  ' | grep -v '^ *$' | LC_ALL=C sort
}

# Every table's exact row count, one "schema.table N" a line (count(*) through query_to_xml: no dynamic SQL text built in the shell).
BG_PG_COUNTS_SQL="
SELECT format('%I.%I', n.nspname, c.relname) || ' ' || (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
  ORDER BY 1;
"

# bg_pg_counts CONN(6): row counts per table, sorted (in the snapshot BG_PG_TX sets, when set).
bg_pg_counts() {
  printf '%s\n' "${BG_PG_TX:-}" "$BG_PG_COUNTS_SQL" | bg_pg_sql "$@" | LC_ALL=C sort
}

# bg_pg_backup CONN(6) DIR DST [TABLE COLUMN]: pg_dump -Fc to DST in one exported snapshot, with the counts and schema of that snapshot (recorded in DST.counts, DST.schema).
bg_pg_backup() {
  # A subshell: its EXIT trap (the snapshot's session) and set -e stay its own when a restore calls it.
  (
    set -e
    dir=$7; dst=$8; mt=${9:-migrations}; mc=${10:-name}
    mkdir -p "$dir"
    rm -f "$dst.tmp"
    # Writes go on meanwhile: one session holds a REPEATABLE READ transaction open and exports its
    # snapshot; the counts, the schema and pg_dump --snapshot all read that same instant.
    bg_pb_fifo=$(mktemp -d "${TMPDIR:-/tmp}/bg-pgsnap.XXXXXX")
    mkfifo "$bg_pb_fifo/in" "$bg_pb_fifo/out"
    bg_pg_sql "$1" "$2" "$3" "$4" "$5" "$6" <"$bg_pb_fifo/in" >"$bg_pb_fifo/out" 2>"$bg_pb_fifo/err" &
    bg_pb_pid=$!
    exec 8>"$bg_pb_fifo/in" 9<"$bg_pb_fifo/out"
    trap 'rc=$?; trap - EXIT; exec 8>&- 9<&-; wait "$bg_pb_pid" 2>/dev/null || true; rm -rf "$bg_pb_fifo"; [ "$rc" -eq 0 ] || rm -f "$dst.tmp"; exit "$rc"' EXIT
    # Stopped (the step's timeout, Ctrl-C): through the EXIT trap, so no FIFO directory or half dump stays.
    trap 'exit 130' INT; trap 'exit 143' TERM
    printf '%s\n' 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;' 'SELECT pg_export_snapshot();' >&8
    snap=''; read -r snap <&9 || true
    case $snap in
      *[!0-9A-F-]*|'') echo "bg: could not export a snapshot of $3: $(tail -n 3 "$bg_pb_fifo/err")" >&2; exit 1 ;;
    esac
    BG_PG_TX="BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '$snap';"
    counts=$(bg_pg_counts "$1" "$2" "$3" "$4" "$5" "$6"); schema=$(bg_pg_schema "$1" "$2" "$3" "$4" "$5" "$6" "$mt" "$mc")
    BG_PG_TX=''
    bg_pg "$1" "$2" "$3" "$4" "$5" "$6" pg_dump -Fc --snapshot="$snap" -f "$dst.tmp"
    printf 'COMMIT;\n' >&8
    sync "$dst.tmp"
    mv "$dst.tmp" "$dst"
    printf '%s\n' "$counts" | bg_write_file "$dst.counts"
    printf '%s\n' "$schema" | bg_write_file "$dst.schema"
    echo "backed up PostgreSQL database $3 to $dst ($(printf '%s\n' "$counts" | grep -c .) tables, schema sha256:$(bg_fingerprint "$schema"), one snapshot)"
  )
}

# bg_pg_backup_verify CONN(6) DST [TABLE COLUMN [record]]: restore DST into a scratch database; its counts and schema must equal DST.counts and DST.schema (recorded in DST.verified); record: a dump sent back without them (bg restore --from-local) gets them from this restore.
bg_pg_backup_verify() {
  dst=$7; mt=${8:-migrations}; mc=${9:-name}
  if [ "${10:-}" = record ] && { [ ! -f "$dst.counts" ] || [ ! -f "$dst.schema" ]; }; then bg_pv_record=1; else bg_pv_record=''; fi
  # A name bg makes (digits only): safe as an identifier; dropped however the check ends.
  scratch="bg_verify_$(date +%s)_$$"
  bg_pg "$1" "$2" "$3" "$4" "$5" "$6" pg_restore --list "$dst" >/dev/null 2>&1 || { bg_mark_verified "$dst" "failed: pg_restore --list"; echo "bg: $dst is no readable pg_dump archive (pg_restore --list failed)" >&2; return 1; }
  printf 'CREATE DATABASE "%s" TEMPLATE template0\n' "$scratch" | bg_pg_sql "$1" "$2" "$3" "$4" "$5" "$6" || { bg_mark_verified "$dst" "failed: no scratch database"; echo "bg: could not create the scratch database $scratch (the role needs CREATEDB)" >&2; return 1; }
  rc=0
  if ! err=$(bg_pg "$1" "$2" "$scratch" "$4" "$5" "$6" pg_restore --no-owner --no-privileges --exit-on-error -d "$scratch" "$dst" 2>&1); then
    bg_mark_verified "$dst" "failed: pg_restore"; printf 'bg: restoring %s into a scratch database failed: %s\n' "$dst" "$(printf '%s\n' "$err" | tail -n 3)" >&2; rc=1
  elif [ -n "$bg_pv_record" ]; then
    # The dump's bytes are the ones verified when it was taken (its sha256 was checked on the way back): what it restores to is what it holds.
    if bg_pv_c=$(bg_pg_counts "$1" "$2" "$scratch" "$4" "$5" "$6") && bg_pv_s=$(bg_pg_schema "$1" "$2" "$scratch" "$4" "$5" "$6" "$mt" "$mc"); then
      printf '%s\n' "$bg_pv_c" | bg_write_file "$dst.counts"; printf '%s\n' "$bg_pv_s" | bg_write_file "$dst.schema"
    else
      bg_mark_verified "$dst" "failed: counts"; echo "bg: could not read the counts and schema restored from $dst" >&2; rc=1
    fi
  elif [ "$(bg_pg_counts "$1" "$2" "$scratch" "$4" "$5" "$6")" != "$(cat "$dst.counts")" ]; then
    bg_mark_verified "$dst" "failed: row counts differ"; echo "bg: row counts restored from $dst differ from $3 at dump time" >&2; rc=1
  elif [ "$(bg_pg_schema "$1" "$2" "$scratch" "$4" "$5" "$6" "$mt" "$mc")" != "$(cat "$dst.schema")" ]; then
    bg_mark_verified "$dst" "failed: schema differs"; echo "bg: the schema restored from $dst differs from $3 at dump time" >&2; rc=1
  fi
  printf 'DROP DATABASE IF EXISTS "%s"\n' "$scratch" | bg_pg_sql "$1" "$2" "$3" "$4" "$5" "$6" || echo "bg: could not drop the scratch database $scratch" >&2
  [ "$rc" -ne 0 ] || { bg_mark_verified "$dst" ok; echo "verified $dst: restored into a scratch database, row counts and schema sha256:$(bg_fingerprint "$(cat "$dst.schema")") equal"; }
  return "$rc"
}

# bg_pg_schema_check TABLE COLUMN NAME CONN(6) NAME CONN(6)...: compare the first env's schema with each other's; 1 when one differs or cannot be read.
bg_pg_schema_check() {
  bg_pk_t=$1; bg_pk_c=$2; bg_pk_l=$3; shift 3
  bg_pk_a=$(bg_pg_schema "$1" "$2" "$3" "$4" "$5" "$6" "$bg_pk_t" "$bg_pk_c") || { echo "bg: could not read the schema of $bg_pk_l" >&2; return 1; }
  shift 6; bg_pk_rc=0
  while [ $# -ge 7 ]; do
    bg_pk_m=$1; shift
    if ! bg_pk_b=$(bg_pg_schema "$1" "$2" "$3" "$4" "$5" "$6" "$bg_pk_t" "$bg_pk_c"); then
      echo "bg: could not read the schema of $bg_pk_m" >&2; bg_pk_rc=1
    else
      bg_schema_text_compare "$bg_pk_l" "$bg_pk_a" "$bg_pk_m" "$bg_pk_b" || bg_pk_rc=1
    fi
    shift 6
  done
  return "$bg_pk_rc"
}
