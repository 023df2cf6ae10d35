// A real OpenSSH sshd on 127.0.0.1 for end-to-end tests: its own host key, client key,
// authorized_keys and config in a temp dir, on a free port. Several can run at once and
// stand in for several hosts. See /work/shared/NOTES.md for why each setting is here.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SSHD = '/usr/sbin/sshd';
const TEST_USER = 'bgtest';

export interface SshdOptions {
  /** Login user to create/use. Default `bgtest` (root's .bashrc is slow: see NOTES.md). */
  user?: string;
  /** Extra sshd_config lines. */
  extraConfig?: string[];
}

export interface SshdHandle {
  host: '127.0.0.1';
  port: number;
  user: string;
  /** Private key file authorized for `user` (mode 0600). */
  clientKeyPath: string;
  clientKeyText: string;
  clientPublicKey: string;
  /** Current host key fingerprint, `SHA256:...` as ssh-keygen -lf prints it. */
  hostKeyFingerprint: string;
  /** `[127.0.0.1]:PORT ssh-ed25519 AAAA...` for the current host key. */
  knownHostsLine: string;
  /** A known_hosts file in `dir` holding the line of the host key the server STARTED with. */
  knownHostsPath: string;
  dir: string;
  /** Main sshd pid. */
  pid: number;
  /** Replace the host key and restart sshd on the same port (for the changed-key test). */
  regenerateHostKey(): Promise<void>;
  /** sshd processes serving open connections ("sshd: user [priv]", "sshd: user@notty"). */
  sessionPids(): Promise<number[]>;
  /** The last lines sshd wrote to stderr (debugging failed tests). */
  log(): string;
  stop(): Promise<void>;
}

// Why: the e2e tests need a genuine OpenSSH server (host keys, auth, channel limits, signals),
// not a mock; this starts one per call, isolated in its own temp dir.
export async function startSshd(opts: SshdOptions = {}): Promise<SshdHandle> {
  const isRoot = process.getuid?.() === 0;
  await ensureSshdInstalled(isRoot);
  if (isRoot) await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const user = isRoot ? await ensureUser(opts.user ?? TEST_USER) : os.userInfo().username;

  const dir = await mkdtemp(path.join(os.tmpdir(), 'bg-sshd-'));
  // The login user reads authorized_keys itself (sshd drops privileges for it).
  await chmod(dir, 0o755);
  const hostKey = path.join(dir, 'host_key');
  const clientKeyPath = path.join(dir, 'client_key');
  await keygen(hostKey, 'bg-test-host');
  await keygen(clientKeyPath, 'bg-test-client');
  const clientPublicKey = (await readFile(`${clientKeyPath}.pub`, 'utf8')).trim();
  const authorizedKeys = path.join(dir, 'authorized_keys');
  await writeFile(authorizedKeys, clientPublicKey + '\n', { mode: 0o644 });
  await chmod(authorizedKeys, 0o644);

  const configPath = path.join(dir, 'sshd_config');
  await writeFile(
    configPath,
    [
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'MaxStartups 100',
      'MaxSessions 20',
      'LogLevel VERBOSE',
      ...(opts.extraConfig ?? []),
      '',
    ].join('\n'),
  );

  let hostKeyInfo = await describeHostKey(hostKey);
  let port = 0;
  let proc: StartedSshd | undefined;
  // Finding a free port and binding it are two steps: retry if another process won the race.
  for (let attempt = 0; attempt < 5 && !proc; attempt++) {
    port = await freePort();
    try {
      proc = await launch(configPath, port);
    } catch (err) {
      if (attempt === 4 || !/Address already in use/i.test(String(err))) {
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
  if (!proc) throw new Error('sshd did not start');
  let current: StartedSshd = proc;

  const knownHostsLine = `[127.0.0.1]:${port} ${hostKeyInfo.publicKey}`;
  const knownHostsPath = path.join(dir, 'known_hosts');
  await writeFile(knownHostsPath, knownHostsLine + '\n', { mode: 0o600 });

  const handle: SshdHandle = {
    host: '127.0.0.1',
    port,
    user,
    clientKeyPath,
    clientKeyText: await readFile(clientKeyPath, 'utf8'),
    clientPublicKey,
    hostKeyFingerprint: hostKeyInfo.fingerprint,
    knownHostsLine,
    knownHostsPath,
    dir,
    pid: current.child.pid ?? 0,
    async regenerateHostKey() {
      await current.stop();
      await rm(hostKey, { force: true });
      await rm(`${hostKey}.pub`, { force: true });
      await keygen(hostKey, 'bg-test-host-new');
      hostKeyInfo = await describeHostKey(hostKey);
      current = await launch(configPath, port);
      handle.pid = current.child.pid ?? 0;
      handle.hostKeyFingerprint = hostKeyInfo.fingerprint;
      handle.knownHostsLine = `[127.0.0.1]:${port} ${hostKeyInfo.publicKey}`;
    },
    async sessionPids() {
      return sshdDescendants(handle.pid);
    },
    log() {
      return current.log();
    },
    async stop() {
      for (const pid of await sshdDescendants(handle.pid)) killQuietly(pid, 'SIGKILL');
      await current.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return handle;
}

interface StartedSshd {
  child: ChildProcess;
  log(): string;
  stop(): Promise<void>;
}

async function launch(configPath: string, port: number): Promise<StartedSshd> {
  const child = spawn(SSHD, ['-D', '-e', '-f', configPath, '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const lines: string[] = [];
  let exited = false;
  const exitedPromise = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sshd did not start in 10 s:\n${lines.join('\n')}`)), 10_000);
    let buffer = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        lines.push(line);
        if (lines.length > 200) lines.shift();
        if (line.includes('Server listening on')) {
          clearTimeout(timer);
          resolve();
        }
      }
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`sshd exited (${code ?? signal}) before listening:\n${lines.join('\n')}`));
    });
  });
  return {
    child,
    log: () => lines.join('\n'),
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exitedPromise;
      clearTimeout(timer);
    },
  };
}

async function keygen(file: string, comment: string): Promise<void> {
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
  await chmod(file, 0o600);
}

async function describeHostKey(file: string): Promise<{ fingerprint: string; publicKey: string }> {
  const pub = (await readFile(`${file}.pub`, 'utf8')).trim().split(/\s+/);
  const { stdout } = await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${file}.pub`]);
  const fingerprint = stdout.split(/\s+/)[1];
  if (!fingerprint?.startsWith('SHA256:')) throw new Error(`unexpected ssh-keygen -l output: ${stdout}`);
  return { fingerprint, publicKey: `${pub[0]} ${pub[1]}` };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function ensureSshdInstalled(isRoot: boolean): Promise<void> {
  if (existsSync(SSHD)) return;
  if (!isRoot) throw new Error(`${SSHD} is missing and we are not root: install openssh-server`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => run('apt-get', ['install', '-y', '-q', 'openssh-server'], { env, maxBuffer: 64 << 20 });
  try {
    await install();
  } catch {
    await run('apt-get', ['update', '-q'], { env, maxBuffer: 64 << 20 });
    await install();
  }
  if (!existsSync(SSHD)) throw new Error(`apt-get installed openssh-server but ${SSHD} is still missing`);
}

// Several test files may start servers in parallel: tolerate a concurrent useradd, and do not
// use the account before the other process has finished setting it up (a locked password
// field refuses even key logins with UsePAM no).
async function ensureUser(name: string): Promise<string> {
  for (let attempt = 0; attempt < 30; attempt++) {
    const state = await userState(name);
    if (state === 'ready') return name;
    try {
      if (state === 'missing') {
        await run('useradd', ['-m', '-s', '/bin/bash', name]);
        await run('usermod', ['-p', '*', name]);
      } else if (attempt >= 5) {
        // Whoever created it has had time to finish; maybe it died half-way: finish the job.
        await run('usermod', ['-p', '*', name]);
      }
    } catch {
      // another process holds the lock or created the user first: look again
    }
    if ((await userState(name)) !== 'ready') await new Promise((r) => setTimeout(r, 50 + attempt * 20));
  }
  if ((await userState(name)) === 'ready') return name;
  return 'root'; // useradd impossible here: fall back to root (slower per command).
}

/** missing, present but not usable yet (locked password field, no home), or ready. */
async function userState(name: string): Promise<'missing' | 'incomplete' | 'ready'> {
  const passwd = (await readFile('/etc/passwd', 'utf8')).split('\n').find((l) => l.startsWith(`${name}:`));
  if (!passwd) return 'missing';
  const home = passwd.split(':')[5] ?? '';
  let shadowField = '';
  try {
    const shadow = (await readFile('/etc/shadow', 'utf8')).split('\n').find((l) => l.startsWith(`${name}:`));
    shadowField = shadow?.split(':')[1] ?? '';
  } catch {
    shadowField = '*'; // no shadow file: the passwd entry is all there is
  }
  if (shadowField.startsWith('!') || !home || !existsSync(home)) return 'incomplete';
  return 'ready';
}

/** Descendants of `rootPid` whose command is sshd (the per-connection processes). */
async function sshdDescendants(rootPid: number): Promise<number[]> {
  if (!rootPid) return [];
  const parents = new Map<number, number>();
  const names = new Map<number, string>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may contain spaces and parentheses.
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      parents.set(Number(entry), ppid);
      names.set(Number(entry), comm);
    } catch {
      // process exited meanwhile
    }
  }
  const result: number[] = [];
  const frontier = [rootPid];
  while (frontier.length) {
    const parent = frontier.pop()!;
    for (const [pid, ppid] of parents) {
      if (ppid !== parent) continue;
      if (names.get(pid) === 'sshd') {
        result.push(pid);
        frontier.push(pid);
      }
    }
  }
  return result;
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/**
 * The environment for a bg process that talks to the test sshd(s): their known_hosts file, no
 * ~/.ssh/config of the machine's, no agent (so each test says how it authenticates).
 */
export function sshClientEnv(knownHostsPath: string): Record<string, string> {
  return { BG_KNOWN_HOSTS: knownHostsPath, BG_SSH_CONFIG: '/dev/null', SSH_AUTH_SOCK: '' };
}
