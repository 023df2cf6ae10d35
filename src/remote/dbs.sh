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

# bg_schema_check_dbs TABLE COLUMN GROUP...: GROUP is "N LABEL DB..." (N envs' databases of one name: the first compared with each other, as bg_schema_check) or "absent NAME HAS LACKS"; every group is reported, 1 when any differs.
bg_schema_check_dbs() {
  bg_sd_t=$1; bg_sd_c=$2; shift 2; bg_sd_rc=0
  while [ "$#" -gt 0 ]; do
    if [ "$1" = absent ]; then bg_db_name_absent "$2" "$3" "$4" || bg_sd_rc=1; shift 4; continue; fi
    bg_sd_n=$1; bg_sd_l=$2; bg_sd_d=$3; shift 3; bg_sd_i=1
    while [ "$bg_sd_i" -lt "$bg_sd_n" ]; do
      bg_schema_compare "$bg_sd_l" "$bg_sd_d" "$1" "$2" "$bg_sd_t" "$bg_sd_c"; bg_sd_r=$?
      [ "$bg_sd_r" -eq 0 ] || bg_sd_rc=1
      [ "$bg_sd_r" -ne 2 ] || echo "bg: could not read the schema of $bg_sd_l or $1" >&2
      shift 2; bg_sd_i=$((bg_sd_i + 1))
    done
  done
  return "$bg_sd_rc"
}

# bg_dbs_status NAME DB...: a "dbs=NAME SIZE CHECK DB" line per database (SIZE `missing` when DB is not there; CHECK: quick_check's first word), for bg status.
bg_dbs_status() {
  while [ "$#" -ge 2 ]; do
    if [ -f "$2" ]; then
      bg_ds_q=$(bg_sql "$2" 'PRAGMA quick_check' 2>&1 | head -n 1 | cut -d ' ' -f 1)
      echo "dbs=$1 $(wc -c < "$2" | tr -d ' ') ${bg_ds_q:-error} $2"
    else
      echo "dbs=$1 missing - $2"
    fi
    shift 2
  done
}
