#!/bin/sh
# ForceCommand of the counting sshd (wan.bench.ts): append "MILLISECONDS COMMAND-START" to the
# file named by $1 for every exec request, then run the command as sshd would have without it.
printf '%s %s\n' "$(date +%s%3N)" "$(printf '%s' "${SSH_ORIGINAL_COMMAND:-}" | head -c 100 | tr '\n' ' ')" >> "$1"
exec "${SHELL:-/bin/sh}" -c "${SSH_ORIGINAL_COMMAND:-true}"
