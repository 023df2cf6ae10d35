// The SSH transport against a real OpenSSH sshd on 127.0.0.1 (test/harness/sshd.ts).
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SshConfig } from '../../src/config/inventory-schema.js';
import { ConnectionError, ExitCode } from '../../src/errors.js';
import { createSshTransport, type SshTransportOptions } from '../../src/transport/ssh.js';
import type { Transport } from '../../src/transport/transport.js';
import { startSshd, type SshdHandle } from '../harness/sshd.js';

const run = promisify(execFile);
const ENV_KEYS = ['BG_KNOWN_HOSTS', 'BG_SSH_KEY', 'BG_SSH_PASSPHRASE', 'BG_SSH_CONFIG', 'SSH_AUTH_SOCK'] as const;

let main: SshdHandle;
let other: SshdHandle;
let work: string;
/** An empty home: the tests must not pick up the real ~/.ssh. */
let home: string;
let savedEnv: Record<string, string | undefined>;
const open: Transport[] = [];

beforeAll(async () => {
  savedEnv = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));
  [main, other] = await Promise.all([startSshd(), startSshd()]);
  work = mkdtempSync(path.join(os.tmpdir(), 'bg-ssh-e2e-'));
  home = path.join(work, 'home');
  await run('mkdir', ['-p', home]);
}, 60_000);

afterAll(async () => {
  await Promise.all([main?.stop(), other?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
  restoreEnv();
});

beforeEach(() => {
  for (const k of ENV_KEYS) delete process.env[k];
  process.env.BG_KNOWN_HOSTS = main.knownHostsPath;
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
  restoreEnv();
});

function restoreEnv(): void {
  for (const k of ENV_KEYS) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
}

function transport(server: SshdHandle, cfg: Partial<SshConfig> = {}, opts: SshTransportOptions = {}): Transport {
  const t = createSshTransport(
    'testhost',
    { host: server.host, port: server.port, user: server.user, key: server.clientKeyPath, ...cfg },
    { homeDir: home, ...opts },
  );
  open.push(t);
  return t;
}

async function connectError(t: Transport): Promise<ConnectionError> {
  const err = await t.connect().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConnectionError);
  expect((err as ConnectionError).exitCode).toBe(ExitCode.unreachable);
  return err as ConnectionError;
}

function tmpFile(name: string, text = ''): string {
  const file = path.join(work, name);
  writeFileSync(file, text, { mode: 0o600 });
  return file;
}

/** A sleep length unique to this run, so concurrent test runs never touch each other's processes. */
function uniqueSleep(seconds: number): string {
  return `${seconds}.${process.pid}${Math.floor(Math.random() * 1000)}`;
}

/** PIDs of local processes whose command line is exactly `argv` (to clean up by id). */
function pidsOf(argv: string[]): number[] {
  const want = argv.join('\0');
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0$/, '') === want) pids.push(Number(entry));
    } catch {
      // exited
    }
  }
  return pids;
}

describe('commands', () => {
  it('returns exit code, stdout and stderr; a non-zero exit does not throw', async () => {
    const t = transport(main);
    await t.connect();
    const r = await t.exec('echo out; echo err >&2; exit 3');
    expect(r).toMatchObject({ exitCode: 3, stdout: 'out', stderr: 'err' });
    expect(r.durationMs).toBeGreaterThan(0);
    expect(r.timedOut).toBeUndefined();
    // Only one final newline is stripped; the rest of the output is as the command wrote it.
    expect((await t.exec("printf '  a\\n\\n'")).stdout).toBe('  a\n');
    expect(await t.exec('whoami')).toMatchObject({ exitCode: 0, stdout: main.user });
  });

  it('treats stderr with exit 0 as success', async () => {
    const r = await transport(main).exec('echo warning >&2; true');
    expect(r).toMatchObject({ exitCode: 0, stdout: '', stderr: 'warning' });
  });

  it('writes stdin to the command', async () => {
    const t = transport(main);
    expect((await t.exec('cat', { stdin: 'line 1\nline 2\n' })).stdout).toBe('line 1\nline 2');
    // No stdin: the command sees EOF instead of waiting.
    expect((await t.exec('cat; echo done')).stdout).toBe('done');
  });

  it('runs 20 concurrent commands on one connection, at most 8 at a time', async () => {
    const t = transport(main);
    await t.connect();
    // Each command counts the commands running beside it on the host (a file each, while it runs).
    // Timings (3 waves of 0.3 s, per-command latency) are measured in bench/ssh.bench.ts.
    const dir = `/tmp/bg-concurrent-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
    try {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => t.exec(`mkdir -p ${dir} && touch ${dir}/${i} && n=$(ls ${dir} | wc -l) && sleep 0.5 && rm ${dir}/${i} && echo "${i} $n"`)),
      );
      expect(results.map((r) => r.exitCode)).toEqual(Array(20).fill(0));
      expect(results.map((r) => r.stdout.split(' ')[0])).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
      const running = results.map((r) => Number(r.stdout.split(' ')[1]));
      expect(Math.max(...running)).toBeLessThanOrEqual(8);
      expect(Math.max(...running)).toBeGreaterThan(1); // they did run side by side
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('kills a command that exceeds its timeout and reports timedOut', async () => {
    const t = transport(main);
    const seconds = uniqueSleep(7);
    const r = await t.exec(`cd /tmp && sleep ${seconds}; echo not reached`, { timeoutMs: 300 });
    expect(r).toMatchObject({ exitCode: 124, timedOut: true, stdout: '' });
    expect(r.signal).toMatch(/^SIG/);
    // sshd signals the whole process group: the sleep is gone too.
    expect(pidsOf(['sleep', seconds])).toEqual([]);
  });

  it('uses ssh.command_timeout when the call sets none', async () => {
    const r = await transport(main, { command_timeout: 0.3 }).exec(`sleep ${uniqueSleep(7)}`);
    expect(r).toMatchObject({ exitCode: 124, timedOut: true });
  });

  it('cancels a command through an AbortSignal', async () => {
    const t = transport(main);
    await t.connect();
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    const seconds = uniqueSleep(7);
    const r = await t.exec(`sleep ${seconds}`, { signal: ac.signal });
    // Killed, not finished: 130, and the sleep is gone.
    expect(r.exitCode).toBe(130);
    expect(pidsOf(['sleep', seconds])).toEqual([]);
    expect(r.timedOut).toBeUndefined();
  });

  it('returns promptly when the connection dies mid-command, then refuses further commands', async () => {
    const t = transport(main);
    await t.connect();
    const seconds = uniqueSleep(9);
    const pending = t.exec(`sleep ${seconds}`);
    await new Promise((r) => setTimeout(r, 300));
    const pids = await main.sessionPids();
    expect(pids.length).toBeGreaterThan(0);
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    const r = await pending;
    // Promptly: the result is in while the orphaned command still runs on the host.
    expect(pidsOf(['sleep', seconds]).length).toBeGreaterThan(0);
    expect(r.exitCode).toBe(255);
    expect(r.stderr).toBe(`bg: connection lost to ${main.user}@127.0.0.1:${main.port}; the command's outcome on the host is unknown`);
    const next = await t.exec('true').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(next).toBeInstanceOf(ConnectionError);
    expect((next as ConnectionError).reason).toMatch(/^connection lost to .*; no further command was sent$/);
    // The orphaned sleep keeps running on the "host" (sshd does not kill it): clean up by pid.
    for (const pid of pidsOf(['sleep', seconds])) process.kill(pid, 'SIGKILL');
  });

  it('throws ConnectionError after close()', async () => {
    const t = transport(main);
    await t.exec('true');
    await t.close();
    await expect(t.exec('true')).rejects.toBeInstanceOf(ConnectionError);
  });
});

describe('authentication', () => {
  it('uses the key file from the inventory', async () => {
    expect((await transport(main).exec('echo ok')).stdout).toBe('ok');
  });

  it('uses a key given in BG_SSH_KEY', async () => {
    process.env.BG_SSH_KEY = main.clientKeyText;
    expect((await transport(main, { key: undefined }).exec('echo ok')).stdout).toBe('ok');
  });

  it('uses a passphrase-protected key with BG_SSH_PASSPHRASE', async () => {
    const key = path.join(work, 'protected_key');
    copyFileSync(main.clientKeyPath, key);
    await run('ssh-keygen', ['-q', '-p', '-P', '', '-N', 'secret words', '-f', key]);
    const t1 = transport(main, { key });
    expect((await connectError(t1)).reason).toMatch(/encrypted; set BG_SSH_PASSPHRASE/);
    process.env.BG_SSH_PASSPHRASE = 'secret words';
    expect((await transport(main, { key }).exec('echo ok')).stdout).toBe('ok');
  });

  describe('with an ssh-agent', () => {
    let agentPid = 0;
    let agentSock = '';
    beforeAll(async () => {
      const { stdout } = await run('ssh-agent', ['-s']);
      agentSock = /SSH_AUTH_SOCK=([^;]+);/.exec(stdout)![1]!;
      agentPid = Number(/SSH_AGENT_PID=(\d+);/.exec(stdout)![1]);
      await run('ssh-add', [main.clientKeyPath], { env: { ...process.env, SSH_AUTH_SOCK: agentSock } });
    });
    afterAll(() => {
      if (agentPid) process.kill(agentPid, 'SIGTERM');
    });

    it('authenticates through SSH_AUTH_SOCK', async () => {
      process.env.SSH_AUTH_SOCK = agentSock;
      expect((await transport(main, { key: undefined }).exec('echo ok')).stdout).toBe('ok');
    });

    it('falls back to the agent when the key file is refused', async () => {
      const wrong = path.join(work, 'wrong_for_agent');
      await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', wrong]);
      process.env.SSH_AUTH_SOCK = agentSock;
      expect((await transport(main, { key: wrong }).exec('echo ok')).stdout).toBe('ok');
    });
  });

  it('fails with a ConnectionError naming what was tried when the key is refused', async () => {
    const wrong = path.join(work, 'wrong_key');
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', wrong]);
    process.env.SSH_AUTH_SOCK = path.join(work, 'no-agent.sock');
    const err = await connectError(transport(main, { key: wrong }));
    expect(err.reason).toContain(`bgtest@127.0.0.1:${main.port}: authentication failed`);
    expect(err.reason).toContain(`key file ${wrong}`);
    expect(err.reason).toContain('no such socket');
    expect(err.message).toMatch(/^cannot connect to testhost: /);
  });

  it('explains a server that hangs up after MaxAuthTries', async () => {
    const strict = await startSshd({ extraConfig: ['MaxAuthTries 1'] });
    try {
      const wrong = path.join(work, 'wrong_key_maxauth');
      await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', wrong]);
      process.env.BG_KNOWN_HOSTS = strict.knownHostsPath;
      process.env.BG_SSH_KEY = strict.clientKeyText; // would work, but comes second
      const err = await connectError(transport(strict, { key: wrong }));
      expect(err.reason).toMatch(/authentication failed: .*MaxAuthTries/);
      expect(err.reason).toContain(`key file ${wrong}`);
    } finally {
      await strict.stop();
    }
  });

  it('says so when there is no credential at all', async () => {
    const err = await connectError(transport(main, { key: undefined }));
    expect(err.reason).toMatch(/authentication failed: no credential to offer/);
  });
});

describe('host keys', () => {
  it('accepts the host from a plain known_hosts entry', async () => {
    expect(readFileSync(main.knownHostsPath, 'utf8')).toBe(main.knownHostsLine + '\n');
    await transport(main).connect();
  });

  it('accepts the host from a hashed known_hosts entry', async () => {
    const file = tmpFile('hashed_known_hosts', `# first line\n${main.knownHostsLine}\n`);
    await run('ssh-keygen', ['-H', '-f', file]);
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/^\|1\|/m);
    expect(text).not.toContain('127.0.0.1');
    process.env.BG_KNOWN_HOSTS = file;
    await transport(main).connect();
  });

  it('refuses an unknown host, showing its fingerprint and how to trust it', async () => {
    process.env.BG_KNOWN_HOSTS = tmpFile('empty_known_hosts');
    const err = await connectError(transport(main));
    expect(err.reason).toContain(main.hostKeyFingerprint);
    expect(err.reason).toContain(`[127.0.0.1]:${main.port} is not known`);
    expect(err.reason).toContain('--accept-new-host-key');
    expect(err.reason).toContain('ssh-keyscan');
  });

  it('records an unknown host with --accept-new-host-key; the next connection trusts it', async () => {
    const file = path.join(work, 'fresh-dir', 'known_hosts');
    process.env.BG_KNOWN_HOSTS = file;
    const notices: string[] = [];
    await transport(main, {}, { acceptNewHostKey: true, onNotice: (m) => notices.push(m) }).connect();
    expect(readFileSync(file, 'utf8')).toBe(main.knownHostsLine + '\n');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    expect(notices.join()).toContain(main.hostKeyFingerprint);
    await transport(main).connect();
  });

  it('honours a pinned fingerprint instead of known_hosts', async () => {
    process.env.BG_KNOWN_HOSTS = tmpFile('empty_known_hosts_2');
    await transport(main, { fingerprint: main.hostKeyFingerprint }).connect();
    const err = await connectError(transport(main, { fingerprint: other.hostKeyFingerprint }));
    expect(err.reason).toContain('pinned');
  });

  it('refuses a CHANGED host key, even with --accept-new-host-key', async () => {
    const server = await startSshd();
    try {
      const originalLine = server.knownHostsLine;
      const file = tmpFile('changed_known_hosts', originalLine + '\n');
      process.env.BG_KNOWN_HOSTS = file;
      await transport(server).connect();
      const oldFingerprint = server.hostKeyFingerprint;
      await server.regenerateHostKey();
      expect(server.hostKeyFingerprint).not.toBe(oldFingerprint);
      for (const acceptNewHostKey of [false, true]) {
        const err = await connectError(transport(server, {}, { acceptNewHostKey }));
        expect(err.reason).toContain(
          `host key CHANGED for [127.0.0.1]:${server.port} (now ${server.hostKeyFingerprint}; known_hosts line 1 of ${file} has ${oldFingerprint})`,
        );
        expect(err.reason).toContain(`ssh-keygen -R '[127.0.0.1]:${server.port}'`);
      }
      // Nothing was recorded: known_hosts still holds only the old key.
      expect(readFileSync(file, 'utf8')).toBe(originalLine + '\n');
    } finally {
      await server.stop();
    }
  });
});

describe('reaching hosts', () => {
  it('reports a closed port as connection refused', async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    const err = await connectError(transport(main, { port }));
    expect(err.reason).toBe(`bgtest@127.0.0.1:${port}: connection refused (is sshd running, and listening on port ${port}?)`);
  });

  it('reports a handshake timeout', async () => {
    // A TCP server that never speaks SSH.
    const silent = net.createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (silent.address() as net.AddressInfo).port;
      const err = await connectError(transport(main, { port, connect_timeout: 0.5 }));
      expect(err.reason).toMatch(/timed out after .* s/);
    } finally {
      silent.close();
    }
  });

  it('resolves an alias from ssh config (HostName, Port, User, IdentityFile)', async () => {
    const config = tmpFile(
      'ssh_config',
      ['Host bg-alias', '  HostName 127.0.0.1', `  Port ${main.port}`, `  User ${main.user}`, `  IdentityFile ${main.clientKeyPath}`, ''].join('\n'),
    );
    const t = createSshTransport('alias', { host: 'bg-alias' }, { homeDir: home, sshConfigPath: config });
    open.push(t);
    expect((await t.exec('whoami')).stdout).toBe(main.user);
    // Through BG_SSH_CONFIG as well; inventory values win over the ssh config's.
    process.env.BG_SSH_CONFIG = tmpFile('ssh_config_wrong_port', readFileSync(config, 'utf8').replace(`Port ${main.port}`, 'Port 1'));
    const t2 = createSshTransport('alias', { host: 'bg-alias', port: main.port }, { homeDir: home });
    open.push(t2);
    expect((await t2.exec('echo ok')).stdout).toBe('ok');
  });

  it('connects through a ProxyJump host', async () => {
    process.env.BG_KNOWN_HOSTS = tmpFile('jump_known_hosts', `${main.knownHostsLine}\n${other.knownHostsLine}\n`);
    const config = tmpFile(
      'ssh_config_jump',
      [
        'Host bg-jump',
        '  HostName 127.0.0.1',
        `  Port ${main.port}`,
        `  User ${main.user}`,
        `  IdentityFile ${main.clientKeyPath}`,
        'Host bg-behind',
        '  HostName 127.0.0.1',
        `  Port ${other.port}`,
        `  User ${other.user}`,
        `  IdentityFile ${other.clientKeyPath}`,
        '  ProxyJump bg-jump',
        '',
      ].join('\n'),
    );
    const t = createSshTransport('behind', { host: 'bg-behind' }, { homeDir: home, sshConfigPath: config });
    open.push(t);
    expect(await main.sessionPids()).toEqual([]);
    const r = await t.exec('echo $SSH_CONNECTION');
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split(' ')[3]).toBe(String(other.port));
    // The jump host holds a session while we talk to `other` through it.
    expect((await main.sessionPids()).length).toBeGreaterThan(0);
    expect((await Promise.all([t.exec('echo a'), t.exec('echo b')])).map((x) => x.stdout)).toEqual(['a', 'b']);
  });
});
