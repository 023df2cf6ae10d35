# shellcheck shell=sh
# Several databases per env (`dbs:`): what the per-name comparisons report beyond one pair of files.

# bg_db_name_absent NAME HAS LACKS: report that database NAME is in the envs HAS but not in LACKS (a difference: returns 1).
bg_db_name_absent() {
  printf 'bg: database %s is in %s but not in %s: the envs differ\n' "$1" "$2" "$3" >&2
  return 1
}

# bg_restore_verify_if DB BAK: as bg_restore_verify, when BAK exists (a database whose backup that run did not take was left alone).
bg_restore_verify_if() {
  [ -f "$2" ] || { echo "no backup $2: $1 was left as it is"; return 0; }
  bg_restore_verify "$1" "$2"
}
