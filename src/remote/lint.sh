# shellcheck shell=sh
# The migrate lint gate: what the host has (its live schema) and what it would run (the migrations).

# bg_migration_listing DIR DB SQL MISSING: DB's live schema ("Bschema live", then sqlite3's .schema, read-only), then bg_migration_files DIR DB SQL MISSING.
bg_migration_listing() {
  [ -d "$1" ] || { printf '%s\n' "$4" >&2; return 1; }
  bg_ml_db=$2
  case $bg_ml_db in -*) bg_ml_db=./$bg_ml_db ;; esac
  printf '%sschema live\n' "${BG_MIGRATION_BOUNDARY:-@@}"
  sqlite3 -readonly -batch -cmd '.timeout 10000' "$bg_ml_db" .schema || return 1
  bg_migration_files "$@"
}
