import { quotePath } from '../plan/quote.js';
import { call } from '../plan/sh-lib.js';
import { RUN_FILES, runFile } from './journal-layout.js';
import type { Transport } from '../transport/transport.js';

// A command whose connection died goes on running on the host: sshd does not stop it. The step
// runner of a changing step (bg_step, src/remote/step.sh) records its shell's pid and start time,
// so that `bg unlock` and `bg rollback` can see whether anything of the run is still going.

/** The file a run's commands record themselves in. */
export function sessionsFile(runDir: string): string {
  return runFile(runDir, RUN_FILES.sessions);
}

/** The call that prints "PID ARGS" of every process of the run still alive (bg_live_sessions in src/remote/runs.sh). */
export function liveSessionsCommand(runDir: string): string {
  return call('bg_live_sessions', quotePath(sessionsFile(runDir)));
}

/** "PID ARGS" of every process of the run still alive on the host (the shells and their sessions). */
export async function liveSessions(transport: Transport, runDir: string): Promise<string[]> {
  const r = await transport.exec(liveSessionsCommand(runDir));
  return r.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
}
