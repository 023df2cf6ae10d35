# shellcheck shell=sh
# share-db with several databases per env (`dbs:`): each database name has its own shared file and
# its own state directory; the undo stops the apps before any file moves, puts every database back, starts them once.
# The globals (sd, envs, runid, bg_sh_rel, bg_sh_wait) are those of share.sh, set by bg_share_envs.
# shellcheck disable=SC2034,SC2154

# bg_share_group_undo_stop RELEASE_S SD SHARED NAME DB APP HEALTH...: the undo's stop for one database's group (bg_share_undo_stop); nothing when that group never started.
bg_share_group_undo_stop() { bg_sh_rel=$1; shift; bg_share_envs "$@"; [ -f "$sd/apps" ] || return 0; bg_share_undo_stop; }

# bg_share_group_undo_files RUNID SD SHARED NAME DB APP HEALTH...: the undo's file moves for one database's group (bg_share_undo_files); nothing when that group never started.
bg_share_group_undo_files() { runid=$1; shift; bg_share_envs "$@"; [ -f "$sd/apps" ] || return 0; bg_share_undo_files; }

# bg_share_group_undo_start WAIT_S SD SHARED NAME DB APP HEALTH...: the undo's start of the apps that were online (bg_share_undo_start), once, from the default database's group.
bg_share_group_undo_start() { bg_sh_wait=$1; shift; bg_share_envs "$@"; [ -f "$sd/apps" ] || return 0; bg_share_undo_start; }

# bg_share_mark_started SD...: record in each SD that the apps are about to start on the shared files (the undo then keeps each shared file aside instead of removing it).
bg_share_mark_started() { for bg_ms in "$@"; do mkdir -p "$bg_ms" && echo started > "$bg_ms/started" || return 1; done; }
