# shellcheck shell=sh
# The envs a step works on, given as arguments (NAME DB APP each): their names, and each one's database and app by name.

# bg_envs NAME DB APP...: sets envs (the names, space-separated) and what db_of and app_of return for each.
bg_envs() {
  envs=''; bg_ei=0
  while [ $# -ge 3 ]; do
    bg_ei=$((bg_ei + 1)); envs="$envs${envs:+ }$1"
    # Only the variable names are built here (from a counter); the values stay data.
    eval "bg_env_d_$bg_ei=\$2; bg_env_a_$bg_ei=\$3"
    shift 3
  done
}

# bg_env_field d|a NAME: the database (d) or app (a) of env NAME, as given to bg_envs.
bg_env_field() {
  bg_ej=0
  for bg_en in $envs; do
    bg_ej=$((bg_ej + 1))
    [ "$bg_en" = "$2" ] || continue
    eval "printf '%s' \"\$bg_env_$1_$bg_ej\""
    return 0
  done
  return 1
}

# db_of NAME: the database of env NAME (see bg_envs).
db_of() { bg_env_field d "$1"; }

# app_of NAME: the pm2 app of env NAME (see bg_envs).
app_of() { bg_env_field a "$1"; }
