import { quotePath } from '../plan/quote.js';
import { RUN_FILES, runFile } from './journal-layout.js';
import type { Transport } from '../transport/transport.js';

// A command whose connection died goes on running on the host: sshd does not stop it. The step
// runner of a changing step (bg_step, src/remote/step.sh) records its shell's pid and start time,
// so that `bg unlock` and `bg rollback` can see whether anything of the run is still going.

/** The file a run's commands record themselves in. */
export function sessionsFile(runDir: string): string {
  return runFile(runDir, RUN_FILES.sessions);
}

/** "PID ARGS" of every process of the run still alive on the host (the shells and their sessions). */
export async function liveSessions(transport: Transport, runDir: string): Promise<string[]> {
  const f = quotePath(sessionsFile(runDir));
  const script = [
    `[ -f ${f} ] || exit 0`,
    'while read -r pid start; do',
    // The file is on the host: anything but "PID STARTTIME" in decimal is skipped, never used in a path or a pattern.
    "  case $pid$start in ''|*[!0-9]*) continue ;; esac",
    // The recorded shell itself, if it is the same process (same start time: pids get reused) and
    // not a zombie (finished, waiting to be reaped).
    `  st=$(cut -d' ' -f3,22 /proc/$pid/stat 2>/dev/null)`,
    `  [ "\${st#* }" = "$start" ] && [ "\${st%% *}" != Z ] && ps -o pid=,args= -p "$pid"`,
    // Whatever still runs in its session (over SSH every command is a session of its own).
    `  ps -e -o pid=,sid=,stat=,args= 2>/dev/null | awk -v s="$pid" -v p="$pid" '$2 == s && $1 != p && $3 !~ /^Z/ { $2 = ""; $3 = ""; print }'`,
    // One readable line per process: the start of its command line is enough to recognise it.
    `done < ${f} | sort -u | cut -c1-160`,
  ].join('\n');
  const r = await transport.exec(script);
  return r.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
}
