import { hostname, userInfo } from 'node:os';

/** Who started a run, from where: kept in the journal and in the host's lock. */
export interface RunMeta {
  runId: string;
  playbook: string;
  command: string;
  user: string;
  machine: string;
  pid: number;
  startedAt: string;
  /** The CI run that started this, when there is one (GitHub Actions). */
  ciUrl?: string;
}

export function runMeta(runId: string, playbook: string, command: string, env = process.env): RunMeta {
  const ci = env.GITHUB_SERVER_URL && env.GITHUB_REPOSITORY && env.GITHUB_RUN_ID ? `${env.GITHUB_SERVER_URL}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}` : undefined;
  let user = env.USER ?? 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (some containers): keep $USER.
  }
  return { runId, playbook, command, user: env.GITHUB_ACTOR ? `${env.GITHUB_ACTOR} (GitHub Actions)` : user, machine: hostname(), pid: process.pid, startedAt: new Date().toISOString(), ...(ci ? { ciUrl: ci } : {}) };
}

export function describeHolder(m: Partial<RunMeta> & { problem?: string }): string {
  // A lock without readable info names no run: say so instead of "run ? by ?@?".
  if (m.problem) return `an unknown run (${m.problem})`;
  const parts = [`run ${m.runId ?? '?'}`, m.command ? `(${m.command})` : undefined, `by ${m.user ?? '?'}@${m.machine ?? '?'}`, m.pid ? `pid ${m.pid}` : undefined, m.startedAt ? `since ${m.startedAt}` : undefined, m.ciUrl];
  return parts.filter(Boolean).join(' ');
}

/** The bg process that holds a lock is known to be gone: it ran on this machine and no longer exists. */
export function holderGone(m: Partial<RunMeta>): boolean {
  // pid 0 or below would name a process group, not the bg process.
  if (m.machine !== hostname() || typeof m.pid !== 'number' || !Number.isInteger(m.pid) || m.pid <= 0) return false;
  try {
    process.kill(m.pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
