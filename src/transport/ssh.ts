// The SSH transport: one connection per host for the whole run, one channel per command.
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { NodeSSH } from 'node-ssh';
import type { Client, ClientChannel } from 'ssh2';
import { ConnectionError } from '../errors.js';
import type { SshConfig } from '../config/inventory-schema.js';
import { commandBound, MAX_TIMER_MS, timeoutNote, type Bound, type CommandResult, type ExecOptions, type Transport } from './transport.js';
import { trackInFlight } from './inflight.js';
import { openSshConnection, type OpenedConnection } from './ssh/connect.js';
import { Semaphore, type Release } from './ssh/semaphore.js';
import { expandHome } from './ssh/ssh-config.js';

export interface SshTransportOptions {
  /** `--accept-new-host-key`: record an unknown host's key in known_hosts (a changed key is still refused). */
  acceptNewHostKey?: boolean;
  /** known_hosts file (default: env BG_KNOWN_HOSTS, else ~/.ssh/known_hosts). */
  knownHostsPath?: string;
  /** ssh config file (default: env BG_SSH_CONFIG, else ~/.ssh/config). */
  sshConfigPath?: string;
  /** Environment for BG_SSH_KEY, BG_SSH_PASSPHRASE, SSH_AUTH_SOCK, ... (default process.env, read at connect). */
  env?: NodeJS.ProcessEnv;
  /** Home directory for `~` and the default keys (default os.homedir()). */
  homeDir?: string;
  /** Commands in flight on the connection (default 8; sshd allows 10 channels). */
  maxChannels?: number;
  /** Keepalive probe interval (default 10 000 ms; the connection is dropped after 3 unanswered). */
  keepaliveIntervalMs?: number;
  /** After a timeout or cancel signal, wait this long before SIGKILL (default 2000 ms). */
  killGraceMs?: number;
  /** Told about noteworthy events, e.g. a newly recorded host key. */
  onNotice?: (message: string) => void;
}

/** Exit code of a command whose connection was lost (as ssh(1) reports it). */
export const EXIT_CONNECTION_LOST = 255;
export const EXIT_TIMED_OUT = 124;
export const EXIT_CANCELLED = 130;

const DEFAULT_CONNECT_TIMEOUT_S = 15;

// Why a factory: the executor knows hosts by their inventory entry; everything else
// (ssh config, keys, agent, known_hosts) is looked up when connect() runs.
export function createSshTransport(hostName: string, cfg: SshConfig, opts: SshTransportOptions = {}): Transport {
  return new SshTransport(hostName, cfg, opts);
}

type State = 'idle' | 'connecting' | 'ready' | 'lost' | 'closed';

class SshTransport implements Transport {
  readonly kind = 'ssh' as const;
  private state: State = 'idle';
  private connecting?: Promise<void>;
  private conn?: OpenedConnection;
  private ssh?: NodeSSH;
  private lostReason?: string;
  private readonly slots: Semaphore;
  private readonly running = new Set<(note: string) => void>();

  constructor(
    readonly host: string,
    private readonly cfg: SshConfig,
    private readonly opts: SshTransportOptions,
  ) {
    this.slots = new Semaphore(opts.maxChannels ?? 8);
  }

  async connect(): Promise<void> {
    if (this.state === 'ready') return;
    if (this.state === 'connecting' && this.connecting) return this.connecting;
    // An explicit connect() after a loss or close opens a fresh connection.
    this.state = 'connecting';
    this.lostReason = undefined;
    this.connecting = this.open().then(
      async () => {
        if (this.state === 'closed') {
          // close() was called while we were connecting: do not leave a connection behind.
          await this.close();
          throw new ConnectionError(this.host, 'the connection was closed by bg while connecting');
        }
        this.state = 'ready';
      },
      (err: unknown) => {
        if (this.state === 'connecting') this.state = 'idle';
        throw err;
      },
    );
    try {
      await this.connecting;
    } finally {
      this.connecting = undefined;
    }
  }

  private async open(): Promise<void> {
    const env = this.opts.env ?? process.env;
    const homeDir = this.opts.homeDir ?? os.homedir();
    const defaultKnownHosts = path.join(homeDir, '.ssh', 'known_hosts');
    const knownHostsFile = expandHome(this.opts.knownHostsPath ?? (env.BG_KNOWN_HOSTS || defaultKnownHosts), homeDir);
    const explicitKnownHosts = Boolean(this.opts.knownHostsPath ?? env.BG_KNOWN_HOSTS);
    const conn = await openSshConnection(
      this.cfg.host,
      { port: this.cfg.port, user: this.cfg.user },
      {
        hostName: this.host,
        env,
        homeDir,
        localUser: localUser(env),
        configPath: expandHome(this.opts.sshConfigPath ?? (env.BG_SSH_CONFIG || path.join(homeDir, '.ssh', 'config')), homeDir),
        keyFile: this.cfg.key ? path.resolve(expandHome(this.cfg.key, homeDir)) : undefined,
        hostKeys: {
          pinnedFingerprint: this.cfg.fingerprint,
          knownHostsFile,
          // The system-wide file is consulted too, unless a test or CI named its own file.
          extraKnownHostsFiles: explicitKnownHosts ? [] : ['/etc/ssh/ssh_known_hosts'],
          acceptNew: this.opts.acceptNewHostKey ?? false,
          isDefaultFile: knownHostsFile === defaultKnownHosts,
        },
        readyTimeoutMs: (this.cfg.connect_timeout ?? DEFAULT_CONNECT_TIMEOUT_S) * 1000,
        keepaliveIntervalMs: this.opts.keepaliveIntervalMs ?? 10_000,
        keepaliveCountMax: 3,
      },
    );
    for (const notice of conn.notices) this.opts.onNotice?.(notice);
    const ssh = new NodeSSH();
    ssh.connection = conn.client;
    this.watch(conn);
    this.conn = conn;
    this.ssh = ssh;
  }

  // Connection loss policy: commands running when the connection drops resolve at once with
  // exit 255 and a stderr line saying so (their fate on the host is unknown: sshd does not
  // kill a command when its client vanishes); every later exec throws ConnectionError,
  // because nothing more can run and the caller must not mistake that for a failed command.
  private watch(conn: OpenedConnection): void {
    let lastError: string | undefined;
    conn.client.on('error', (err: Error) => {
      lastError = err.message;
    });
    conn.client.once('close', () => {
      if (this.conn !== conn) return;
      if (this.state === 'ready') {
        this.state = 'lost';
        this.lostReason = `connection lost to ${conn.where}${lastError ? ` (${lastError})` : ''}`;
      }
      const note =
        this.state === 'closed'
          ? `bg: connection to ${conn.where} closed while the command was running`
          : `bg: ${this.lostReason}; the command's outcome on the host is unknown`;
      for (const onLost of [...this.running]) onLost(note);
      for (const j of [...conn.jumps].reverse()) j.end();
    });
  }

  private async ready(): Promise<{ ssh: NodeSSH; conn: OpenedConnection }> {
    if (this.state === 'idle') await this.connect();
    else if (this.state === 'connecting') await this.connecting;
    return this.current();
  }

  private current(): { ssh: NodeSSH; conn: OpenedConnection } {
    if (this.state === 'lost') {
      throw new ConnectionError(this.host, `${this.lostReason ?? 'connection lost'}; no further command was sent`);
    }
    if (this.state === 'closed') throw new ConnectionError(this.host, 'the connection was closed by bg');
    if (this.state !== 'ready' || !this.ssh || !this.conn) throw new ConnectionError(this.host, 'not connected');
    return { ssh: this.ssh, conn: this.conn };
  }

  async exec(command: string, options: ExecOptions = {}): Promise<CommandResult> {
    await this.ready();
    const release = await this.slots.acquire(options.signal);
    if (!release) return { exitCode: EXIT_CANCELLED, stdout: '', stderr: 'bg: cancelled before the command started', durationMs: 0, signal: 'SIGINT' };
    let current;
    try {
      current = this.current(); // the connection may have dropped while we queued
    } catch (err) {
      release();
      throw err;
    }
    return runCommand(current.ssh, command, {
      stdin: options.stdin,
      signal: options.signal,
      bound: this.boundFor(options),
      onStdout: options.onStdout,
      stdoutSink: options.stdoutSink,
      killGraceMs: this.opts.killGraceMs ?? 2000,
      release,
      running: this.running,
      host: this.host,
      where: current.conn.where,
    });
  }

  boundFor(options: ExecOptions): Bound {
    return commandBound(options, this.cfg.command_timeout);
  }

  async close(): Promise<void> {
    const conn = this.conn;
    this.state = 'closed';
    if (!conn) return;
    await endClient(conn.client);
    for (const j of [...conn.jumps].reverse()) await endClient(j);
  }
}

interface RunSettings {
  stdin?: string;
  onStdout?: (chunk: string) => void;
  stdoutSink?: (chunk: Buffer) => void;
  signal?: AbortSignal;
  bound: Bound;
  killGraceMs: number;
  release: Release;
  running: Set<(note: string) => void>;
  host: string;
  where: string;
}

type StopKind = 'timeout' | 'cancel';

// Why not node-ssh's `exec`: it throws when stderr is non-empty. `execCommand` reports exit
// code and output; bg adds the timeout, cancellation and connection-loss handling around it.
function runCommand(ssh: NodeSSH, command: string, s: RunSettings): Promise<CommandResult> {
  const started = performance.now();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let channel: ClientChannel | undefined;
  let stopping: StopKind | undefined;
  let settled = false;
  const timers: NodeJS.Timeout[] = [];

  return new Promise<CommandResult>((resolve, reject) => {
    const finish = (r: { exitCode: number; signal?: string; note?: string; lost?: boolean }) => {
      if (settled) return;
      settled = true;
      cleanup();
      let stderr = stripFinalNewline(Buffer.concat(err).toString('utf8'));
      if (r.note) stderr = stderr ? `${stderr}\n${r.note}` : r.note;
      const result: CommandResult = {
        exitCode: r.exitCode,
        stdout: stripFinalNewline(Buffer.concat(out).toString('utf8')),
        stderr,
        durationMs: Math.round((performance.now() - started) * 10) / 10,
      };
      if (r.signal) result.signal = r.signal;
      if (stopping === 'timeout') result.timedOut = true;
      if (r.lost) result.connectionLost = true;
      resolve(result);
    };
    const onLost = (note: string) => finish({ exitCode: EXIT_CONNECTION_LOST, note, lost: true });
    const onAbort = () => stop('cancel');
    // If bg must quit at once: KILL the remote session, then drop the channel. sshd does not stop
    // a command whose channel merely closes (it runs on until it writes to the closed pipe).
    const untrack = trackInFlight(() => {
      if (channel) sendSignal(channel, 'KILL');
      channel?.close();
    });
    const cleanup = () => {
      untrack();
      for (const t of timers) clearTimeout(t);
      s.running.delete(onLost);
      s.signal?.removeEventListener('abort', onAbort);
    };

    // Timeout/cancel: signal the command's process group (sshd delivers it with killpg),
    // escalate to KILL after the grace period, and give up on the channel a second later.
    const stop = (kind: StopKind) => {
      if (settled || stopping) return;
      stopping = kind;
      if (channel) sendSignal(channel, kind === 'timeout' ? 'TERM' : 'INT');
      timers.push(
        setTimeout(() => {
          if (channel) sendSignal(channel, 'KILL');
          timers.push(
            setTimeout(() => {
              channel?.close();
              const why = kind === 'timeout' ? timeoutNote(s.bound) : 'bg: cancelled (interrupted)';
              finish({
                exitCode: kind === 'timeout' ? EXIT_TIMED_OUT : EXIT_CANCELLED,
                note: `${why}\nbg: the command did not stop after ${kind === 'timeout' ? 'TERM' : 'INT'} and KILL; it may still be running on the host`,
              });
            }, 1000),
          );
        }, s.killGraceMs),
      );
    };

    s.running.add(onLost);
    if (s.signal) {
      if (s.signal.aborted) stop('cancel');
      else s.signal.addEventListener('abort', onAbort, { once: true });
    }
    timers.push(setTimeout(() => stop('timeout'), Math.min(s.bound.ms, MAX_TIMER_MS)));

    const handlers = {
      noTrim: true,
      stdin: s.stdin,
      onChannel: (ch: ClientChannel) => {
        channel = ch;
        if (stopping) sendSignal(ch, stopping === 'timeout' ? 'TERM' : 'INT');
      },
      onStdout: (chunk: Buffer) => {
        out.push(chunk);
        s.onStdout?.(chunk.toString('utf8'));
      },
      onStderr: (chunk: Buffer) => err.push(chunk),
    };
    // node-ssh keeps every byte of stdout as text until the command ends: a sink bypasses it.
    const sink = s.stdoutSink;
    (sink ? execToSink(ssh, command, { ...handlers, onStdout: sink }) : ssh.execCommand(command, handlers))
      .then(
        ({ code, signal }) => {
          s.release();
          const sig = signal ? (signal.startsWith('SIG') ? signal : `SIG${signal}`) : undefined;
          if (stopping) {
            finish({
              exitCode: stopping === 'timeout' ? EXIT_TIMED_OUT : EXIT_CANCELLED,
              signal: sig ?? (stopping === 'timeout' ? 'SIGTERM' : 'SIGINT'),
              note: stopping === 'timeout' ? timeoutNote(s.bound) : 'bg: cancelled (interrupted)',
            });
          } else if (code !== null && code !== undefined) {
            finish({ exitCode: code, signal: sig });
          } else if (sig) {
            finish({ exitCode: 128 + (os.constants.signals[sig as NodeJS.Signals] ?? 0), signal: sig });
          } else {
            // No exit status: the connection went away (onLost usually got here first).
            finish({ exitCode: EXIT_CONNECTION_LOST, note: `bg: the channel to ${s.where} closed without an exit status`, lost: true });
          }
        },
        (error: Error) => {
          s.release();
          if (settled) return;
          settled = true;
          cleanup();
          // The command never started: a transport failure, not a failed command.
          reject(new ConnectionError(s.host, `${s.where}: could not start a command: ${error.message}`, { cause: error }));
        },
      );
  });
}

/**
 * node-ssh's execCommand without its buffering: stdout chunks go to onStdout only (as bytes), so a
 * file of any size streams through. Same channel handling: stdin written then closed, the exit
 * status kept until the channel closes.
 */
function execToSink(
  ssh: NodeSSH,
  command: string,
  h: { stdin?: string; onChannel(ch: ClientChannel): void; onStdout(chunk: Buffer): void; onStderr(chunk: Buffer): void },
): Promise<{ code: number | null; signal: string | null }> {
  const client = ssh.connection!;
  return new Promise((resolve, reject) => {
    client.on('error', reject);
    client.exec(command, {}, (error, ch) => {
      client.removeListener('error', reject);
      if (error) return reject(error);
      h.onChannel(ch);
      let code: number | null = null;
      let signal: string | null = null;
      ch.on('data', (chunk: Buffer) => h.onStdout(chunk));
      ch.stderr.on('data', (chunk: Buffer) => h.onStderr(chunk));
      ch.on('exit', (c: number | null, sig?: string) => {
        code = c ?? null;
        signal = sig ?? null;
      });
      ch.on('close', () => resolve({ code, signal }));
      if (h.stdin !== undefined) ch.write(h.stdin);
      ch.end();
    });
  });
}

/**
 * ssh2's `channel.signal()` does nothing once stdin is closed (it checks `writable`), and
 * node-ssh closes stdin right after writing it; sshd still accepts the request, so send it
 * on the protocol directly. Best effort: a server without signal support just ignores it.
 */
function sendSignal(channel: ClientChannel, name: 'TERM' | 'INT' | 'KILL'): void {
  const ch = channel as unknown as {
    outgoing?: { id: number; state: string };
    _client?: { _protocol?: { signal(id: number, name: string): void } };
  };
  try {
    // 'eof' is the normal state here: our side of the channel has sent EOF (stdin closed).
    const state = ch.outgoing?.state;
    if (ch.outgoing && (state === 'open' || state === 'eof')) ch._client?._protocol?.signal(ch.outgoing.id, name);
  } catch {
    // the channel or connection is going away anyway
  }
}

/** Like execa's default: drop one trailing newline (`\n` or `\r\n`), nothing else. */
export function stripFinalNewline(text: string): string {
  if (text.endsWith('\r\n')) return text.slice(0, -2);
  if (text.endsWith('\n')) return text.slice(0, -1);
  return text;
}

function endClient(client: Client): Promise<void> {
  return new Promise((resolve) => {
    const sock = (client as unknown as { _sock?: { destroyed?: boolean; destroy(): void } })._sock;
    if (!sock || sock.destroyed) return resolve();
    const timer = setTimeout(() => {
      sock.destroy();
      resolve();
    }, 2000);
    client.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    client.end();
  });
}

function localUser(env: NodeJS.ProcessEnv): string {
  try {
    return os.userInfo().username;
  } catch {
    return env.USER ?? env.LOGNAME ?? 'root';
  }
}
