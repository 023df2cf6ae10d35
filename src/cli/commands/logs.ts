import { BgError, ExitCode, UsageError } from '../../errors.js';
import { resolveHost, type ResolvedEnv } from '../../plan/host-model.js';
import { logPathsCommand, pollCommand, tailCommand } from '../../plan/logs-sh.js';
import type { Transport } from '../../transport/transport.js';
import { withHosts, type HostArgs } from '../host-session.js';
import { multiLine, oneLine } from '../sanitize.js';
import { trapInterrupts } from '../signals.js';

export interface LogsArgs extends HostArgs {
  env?: string[];
  lines?: number;
  follow?: boolean;
  json?: boolean;
  /** Seconds between reads with --follow (tests use a short one). */
  interval?: number;
}

/** How much of a log one read brings back at most (per file): a flood is skipped, not buffered. */
const MAX_READ = 1024 * 1024;
/** Longest line the first read shows (bytes); longer lines are cut there. */
const MAX_LINE = 64 * 1024;

interface LogFile {
  host: string;
  env: string;
  stream: 'out' | 'err';
  path: string;
  transport: Transport;
  prefix: string;
  offset: number;
  /** The last line read so far when it had no newline yet. */
  carry: string;
}

/**
 * `bg logs`: the last lines of the envs' pm2 logs (the files pm2 writes, found with `pm2 jlist`),
 * and with --follow what is written next, read every second until Ctrl-C (exit 0). Read-only:
 * no daemon is started. App output is untrusted: every line is escaped for the terminal.
 */
export async function logsCommand(args: LogsArgs, write = (s: string) => process.stdout.write(s)): Promise<number> {
  const lines = args.lines ?? 15;
  return withHosts(args, async (hosts) => {
    const files: LogFile[] = [];
    for (const { name, config, transport } of hosts) {
      const host = resolveHost(name, config);
      const envs = pickEnvs(name, host.envs, args.env);
      for (const env of envs) {
        const r = await transport.exec(host.commandPrefix + logPathsCommand(env.app!), { timeoutMs: 60_000 });
        if (r.exitCode !== 0) throw new BgError(`cannot find the logs of ${env.name} (pm2 app ${env.app}) on ${name}: ${multiLine(r.stderr.trim() || `exit ${r.exitCode}`)}`, ExitCode.stepFailed);
        const paths = parsePaths(r.stdout, name, env.name);
        const several = hosts.length > 1 || envs.length > 1;
        for (const stream of ['out', 'err'] as const)
          for (const path of paths[stream]) {
            const label = [hosts.length > 1 ? name : '', several ? env.name : '', stream === 'err' ? 'err' : ''].filter(Boolean).join(' ');
            files.push({ host: name, env: env.name, stream, path, transport, prefix: label ? `${label} | ` : '', offset: 0, carry: '' });
          }
      }
    }
    const emit = (f: LogFile, line: string) => {
      if (args.json) write(JSON.stringify({ host: f.host, env: f.env, stream: f.stream, line }) + '\n');
      else write(`${oneLine(f.prefix)}${oneLine(line)}\n`);
    };
    for (const f of files) {
      // Each line cut at MAX_LINE bytes on the host: one giant line (an app dumping a blob without a
      // newline) must not travel whole (it made bg logs fail, and hold it all in memory).
      const r = await f.transport.exec(tailCommand(f.path, lines, MAX_LINE), { timeoutMs: 60_000 });
      if (r.exitCode !== 0) throw new BgError(`cannot read ${f.path} on ${f.host}: ${multiLine(r.stderr.trim() || `exit ${r.exitCode}`)}`, ExitCode.stepFailed);
      const { header, body } = splitHeader(r.stdout);
      f.offset = Math.max(0, Number(header.split(' ')[1]) || 0);
      // The transport drops the final newline: what tail printed is whole lines.
      if (body) for (const l of body.split('\n')) emit(f, l);
    }
    if (!args.follow) return ExitCode.ok;

    // Ctrl-C (or SIGTERM) ends following: the normal way out, exit 0.
    const interrupts = trapInterrupts({
      first: () => 'stopped following the logs',
      second: () => ({ code: ExitCode.ok, message: 'stopped following the logs' }),
    });
    try {
      const interval = (args.interval ?? 1) * 1000;
      while (!interrupts.signal.aborted) {
        await sleep(interval, interrupts.signal);
        if (interrupts.signal.aborted) break;
        for (const f of files) {
          const r = await f.transport.exec(pollCommand(f.path, f.offset, MAX_READ), { timeoutMs: 60_000, signal: interrupts.signal });
          if (interrupts.signal.aborted) break;
          if (r.exitCode !== 0) throw new BgError(`cannot read ${f.path} on ${f.host}: ${multiLine(r.stderr.trim() || `exit ${r.exitCode}`)}`, ExitCode.stepFailed);
          const { header, body: withEnd } = splitHeader(r.stdout);
          if (!withEnd.endsWith('@@end') && !header.endsWith('@@end')) continue; // cut short: read again next time
          const body = withEnd.endsWith('@@end') ? withEnd.slice(0, -5) : '';
          const [, size, rotated, skipped] = header.split(' ').map(Number);
          if (size === undefined || !Number.isFinite(size) || size < 0) continue;
          if (rotated) f.carry = '';
          if (skipped) emit(f, `[bg: ${skipped} bytes skipped: the log grew faster than it is read]`);
          f.offset = size;
          const text = f.carry + body;
          const parts = text.split('\n');
          f.carry = parts.pop()!;
          for (const l of parts) emit(f, l);
        }
      }
      return ExitCode.ok;
    } finally {
      interrupts.dispose();
    }
  });
}

/** The envs whose logs are shown: --env (each must exist and have an app), else every env with an app. */
function pickEnvs(host: string, envs: Record<string, ResolvedEnv>, wanted: string[] | undefined): ResolvedEnv[] {
  if (wanted?.length) {
    return wanted.map((name) => {
      const env = Object.hasOwn(envs, name) ? envs[name]! : undefined;
      if (!env) throw new UsageError(`host ${host} has no env ${JSON.stringify(name)} (it has: ${Object.keys(envs).join(', ') || 'no envs'})`);
      if (!env.app) throw new UsageError(`env ${name} of host ${host} has no pm2 \`app\` in the inventory: it has no logs bg can show`);
      return env;
    });
  }
  const withApp = Object.values(envs).filter((e) => e.app);
  if (withApp.length === 0) throw new UsageError(`no env of host ${host} has a pm2 \`app\` in the inventory: no logs to show`);
  return withApp;
}

function parsePaths(stdout: string, host: string, env: string): { out: string[]; err: string[] } {
  const line = stdout.trim().split('\n').at(-1) ?? '';
  try {
    const v = JSON.parse(line) as { out?: unknown; err?: unknown };
    const list = (x: unknown) => (Array.isArray(x) ? x.filter((p): p is string => typeof p === 'string' && p !== '/dev/null') : []);
    return { out: list(v.out), err: list(v.err) };
  } catch {
    throw new BgError(`cannot read where pm2 writes the logs of ${env} on ${host}: ${oneLine(line.slice(0, 200))}`, ExitCode.stepFailed);
  }
}

/** The first line (`@@size …`) and the rest. */
function splitHeader(stdout: string): { header: string; body: string } {
  const i = stdout.indexOf('\n');
  return i < 0 ? { header: stdout, body: '' } : { header: stdout.slice(0, i), body: stdout.slice(i + 1) };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const onAbort = () => (clearTimeout(t), resolve());
    const t = setTimeout(() => (signal.removeEventListener('abort', onAbort), resolve()), ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
