// Opens one authenticated, host-key-verified ssh2 connection, directly or through ProxyJump
// hosts, and turns every failure into a ConnectionError whose reason names the cause.
import net from 'node:net';
import type { Duplex } from 'node:stream';
import ssh2, { type Client, type ConnectConfig } from 'ssh2';
import { ConnectionError } from '../../errors.js';
import { describeAuthFailure, makeAuthHandler, planAuth } from './auth.js';
import { makeHostKeyCheck, type HostKeyCheck, type HostKeyPolicy } from './host-key-policy.js';
import { resolveSshTarget, SshConfigError, type ResolveOptions, type SshTarget, type TargetOverrides } from './ssh-config.js';

export interface ConnectSettings extends ResolveOptions {
  /** Inventory host name, for ConnectionError. */
  hostName: string;
  env: NodeJS.ProcessEnv;
  /** Inventory `ssh.key`, ~-expanded. */
  keyFile?: string;
  /** Host key policy for the target; jump hosts use the same files but never a pinned fingerprint. */
  hostKeys: HostKeyPolicy;
  readyTimeoutMs: number;
  keepaliveIntervalMs: number;
  keepaliveCountMax: number;
}

export interface OpenedConnection {
  client: Client;
  target: SshTarget;
  /** Jump host connections, nearest to us first; closed after the client. */
  jumps: Client[];
  /** `user@host:port` of the target, for messages. */
  where: string;
  /** Things worth telling the user (e.g. a host key was recorded). */
  notices: string[];
}

const MAX_JUMPS = 5;

// Why one entry point: ProxyJump hops are connections like any other (known_hosts, auth,
// timeouts), so the target and each hop go through the same code.
export async function openSshConnection(alias: string, overrides: TargetOverrides, s: ConnectSettings): Promise<OpenedConnection> {
  const target = resolve(alias, overrides, s);
  const jumps: Client[] = [];
  const notices: string[] = [];
  try {
    const client = await openResolved(target, s, jumps, notices, 0, s.hostKeys);
    return { client, target, jumps, where: whereOf(target), notices };
  } catch (err) {
    for (const j of jumps.reverse()) j.end();
    throw err;
  }
}

function resolve(alias: string, overrides: TargetOverrides, s: ConnectSettings): SshTarget {
  try {
    return resolveSshTarget(alias, overrides, s);
  } catch (err) {
    if (err instanceof SshConfigError) throw new ConnectionError(s.hostName, err.message, { cause: err });
    throw err;
  }
}

async function openResolved(
  target: SshTarget,
  s: ConnectSettings,
  jumps: Client[],
  notices: string[],
  depth: number,
  hostKeys: HostKeyPolicy,
): Promise<Client> {
  let sock: Duplex;
  let via = '';
  if (target.jumps.length) {
    if (depth >= MAX_JUMPS) {
      throw new ConnectionError(s.hostName, `${whereOf(target)}: more than ${MAX_JUMPS} ProxyJump hops (a loop in ssh config?)`);
    }
    // `ProxyJump a,b`: reach b through a; b's own ProxyJump is replaced by the rest of the list.
    const last = target.jumps[target.jumps.length - 1]!;
    const hop = resolve(last.host, { port: last.port, user: last.user }, s);
    if (target.jumps.length > 1) hop.jumps = target.jumps.slice(0, -1);
    const jumpPolicy: HostKeyPolicy = { ...s.hostKeys, pinnedFingerprint: undefined };
    const jump = await openResolved(hop, s, jumps, notices, depth + 1, jumpPolicy);
    jumps.push(jump);
    via = ` via jump host ${whereOf(hop)}`;
    sock = await forwardOut(jump, target, s.hostName, hop);
  } else {
    sock = net.connect({ host: target.host, port: target.port, noDelay: true });
  }
  return connectClient(target, sock, s, hostKeys, notices, via);
}

function forwardOut(jump: Client, target: SshTarget, hostName: string, hop: SshTarget): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const onResult = (err: Error | undefined, stream?: Duplex) => {
      if (err || !stream) {
        err ??= new Error('no stream');
        reject(
          new ConnectionError(
            hostName,
            `${whereOf(target)}: jump host ${whereOf(hop)} could not open a connection to ${target.host}:${target.port} (${err.message})`,
            { cause: err },
          ),
        );
      } else {
        resolve(stream);
      }
    };
    try {
      jump.forwardOut('127.0.0.1', 0, target.host, target.port, (err, stream) => onResult(err, stream));
    } catch (err) {
      onResult(err as Error); // the jump connection dropped meanwhile
    }
  });
}

function connectClient(
  target: SshTarget,
  sock: Duplex,
  s: ConnectSettings,
  hostKeys: HostKeyPolicy,
  notices: string[],
  via: string,
): Promise<Client> {
  const plan = planAuth({
    keyFile: s.keyFile,
    env: s.env,
    identityFiles: target.identityFiles,
    homeDir: s.homeDir,
    identitiesOnly: target.identitiesOnly,
    agentSocket: target.identityAgent,
    certificateFiles: target.certificateFiles,
  });
  const tracker = makeAuthHandler(plan, target.user);
  const policy = withConfiguredKnownHosts(hostKeys, target);
  // Written at once (not a notice): it matters most when the connection then fails.
  if (s.env.BG_DEBUG === '1') process.stderr.write(`bg: ${s.hostName}: ${describeTarget(target, policy, plan.candidates.map((c) => c.label))}\n`);
  const check = makeHostKeyCheck(policy, target.hostKeyName, target.port);
  const client = new ssh2.Client();
  // node-ssh adds an 'error' listener per command waiting for its channel.
  client.setMaxListeners(50);
  const serverHostKey = check.algorithms();
  const config: ConnectConfig = {
    sock: sock as ConnectConfig['sock'],
    host: target.host,
    port: target.port,
    username: target.user,
    authHandler: tracker.handler,
    hostVerifier: (key: Buffer) => check.verify(key),
    readyTimeout: s.readyTimeoutMs,
    keepaliveInterval: s.keepaliveIntervalMs,
    keepaliveCountMax: s.keepaliveCountMax,
    ...(serverHostKey ? { algorithms: { serverHostKey: serverHostKey as never } } : {}),
  };

  return new Promise((resolvePromise, reject) => {
    let done = false;
    const fail = (err: Error) => {
      if (done) return;
      done = true;
      sock.destroy();
      const reason = explain(err, target, check, () => describeAuthFailure(plan, tracker), s.readyTimeoutMs) + via;
      reject(new ConnectionError(s.hostName, reason, { cause: err }));
    };
    // Stays attached for the life of the client: ssh2 throws on an unhandled 'error'.
    client.on('error', (err: Error & { level?: string }) => {
      if (err.level === 'agent') return; // agent unusable: ssh2 moves on to the next method
      fail(err);
    });
    client.once('ready', () => {
      if (done) return;
      done = true;
      const recorded = check.recorded();
      if (recorded) notices.push(recorded);
      resolvePromise(client);
    });
    client.once('close', () => fail(new Error('the server closed the connection during the SSH handshake')));
    try {
      client.connect(config);
    } catch (err) {
      fail(err as Error);
    }
  });
}

// Why: UserKnownHostsFile in ssh config is where the user keeps this host's key. bg's own
// setting (BG_KNOWN_HOSTS, a test's file) still wins: only the default file is replaced.
function withConfiguredKnownHosts(policy: HostKeyPolicy, target: SshTarget): HostKeyPolicy {
  if (!policy.isDefaultFile || !target.userKnownHostsFiles?.length) return policy;
  const [first, ...rest] = target.userKnownHostsFiles;
  return {
    ...policy,
    knownHostsFile: first!,
    extraKnownHostsFiles: [...rest, ...(target.globalKnownHostsFiles ?? policy.extraKnownHostsFiles)],
    isDefaultFile: false,
  };
}

/** The BG_DEBUG=1 line: where the host's settings came from and what they are. */
function describeTarget(t: SshTarget, policy: HostKeyPolicy, offers: string[]): string {
  const from = t.source === 'ssh -G' ? `\`ssh -G ${t.alias}\`` : t.source === 'ssh-config library' ? 'ssh config (ssh-config library; no Include)' : 'the inventory (no ssh config entry)';
  const parts = [
    `ssh settings for ${t.alias} from ${from}: ${whereOf(t)}`,
    t.jumps.length ? `ProxyJump ${t.jumps.map((j) => whereOf({ user: j.user ?? '', host: j.host, port: j.port ?? 22 }).replace(/^@/, '')).join(',')}` : '',
    t.identitiesOnly ? 'IdentitiesOnly yes' : '',
    t.identityAgent === null ? 'IdentityAgent none' : t.identityAgent ? `IdentityAgent ${t.identityAgent}` : '',
    `known_hosts ${[policy.knownHostsFile, ...policy.extraKnownHostsFiles].join(' ')}`,
    t.certificateFiles.length ? `CertificateFile ${t.certificateFiles.join(' ')} (not supported by bg)` : '',
    `offers: ${offers.join(', ') || 'nothing'}`,
  ];
  return parts.filter(Boolean).join('; ');
}

export function whereOf(t: Pick<SshTarget, 'user' | 'host' | 'port'>): string {
  return `${t.user}@${t.host}:${t.port}`;
}

/** A human reason for a failed connection attempt. */
function explain(
  err: Error & { code?: string; level?: string },
  t: SshTarget,
  check: HostKeyCheck,
  authFailure: () => string,
  readyTimeoutMs: number,
): string {
  const where = whereOf(t);
  const refusal = check.refusal();
  if (refusal) return `${where}: ${refusal}`;
  if (err.message === 'All configured authentication methods failed') {
    return `${where}: authentication failed: ${authFailure()}`;
  }
  if (/too many authentication failures/i.test(err.message)) {
    return (
      `${where}: authentication failed: the server hung up after too many attempts (its MaxAuthTries); ` +
      `${authFailure()}; name the right key first with ssh.key, or set IdentitiesOnly yes and IdentityFile for this host in ~/.ssh/config`
    );
  }
  switch (err.code) {
    case 'ECONNREFUSED':
      return `${where}: connection refused (is sshd running, and listening on port ${t.port}?)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NODATA':
      return `${where}: host name ${t.host} could not be resolved (DNS: ${err.code})`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `${where}: host unreachable (${err.code})`;
    case 'ETIMEDOUT':
      return `${where}: timed out connecting (${err.code})`;
    case 'ECONNRESET':
      return `${where}: connection reset by the server during the SSH handshake (MaxStartups, a firewall, or not an SSH server?)`;
  }
  if (err.level === 'client-timeout') {
    return `${where}: timed out after ${Math.round(readyTimeoutMs / 1000)} s waiting for the SSH handshake (ssh.connect_timeout)`;
  }
  if (/before handshake/i.test(err.message)) {
    return `${where}: the server closed the connection before the SSH handshake (not an SSH server, or it refused us)`;
  }
  return `${where}: ${err.message}`;
}
