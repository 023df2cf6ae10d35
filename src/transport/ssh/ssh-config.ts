// Resolves an inventory host the way `ssh ALIAS` would: through `ssh -G` when an OpenSSH client
// is installed (Include, Match, every token, exactly as ssh reads ~/.ssh/config), else through the
// ssh-config library (no Include). Aliases, HostName, User, Port, IdentityFile, IdentitiesOnly,
// IdentityAgent, UserKnownHostsFile, CertificateFile, ProxyJump.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SSHConfig from 'ssh-config';

export interface JumpSpec {
  host: string;
  port?: number;
  user?: string;
}

/** Where a host's settings came from (shown with BG_DEBUG=1). */
export type TargetSource = 'ssh -G' | 'ssh-config library' | 'inventory';

export interface SshTarget {
  /** The name as written in the inventory (may be an alias). */
  alias: string;
  /** Address to connect to (HostName, or the alias itself). */
  host: string;
  port: number;
  user: string;
  /** IdentityFile entries from ssh config, expanded; missing files are kept (skipped later). */
  identityFiles: string[];
  /** IdentitiesOnly yes: offer only the identity files (and agent keys matching them), not every agent key. */
  identitiesOnly: boolean;
  /** IdentityAgent resolved: a socket path, `null` for `none`; undefined means $SSH_AUTH_SOCK. */
  identityAgent?: string | null;
  /** UserKnownHostsFile when configured (first one is written by --accept-new-host-key). */
  userKnownHostsFiles?: string[];
  /** GlobalKnownHostsFile as ssh -G reports it. */
  globalKnownHostsFiles?: string[];
  /** CertificateFile entries (bg cannot offer OpenSSH certificates: ssh2 lacks them). */
  certificateFiles: string[];
  /** Jump hosts, first hop first (ProxyJump `a,b` means reach a, then b, then the target). */
  jumps: JumpSpec[];
  /** Name used for known_hosts (HostKeyAlias, else host). */
  hostKeyName: string;
  source: TargetSource;
}

export interface ResolveOptions {
  /** ssh config file; absent file means no ssh config. */
  configPath: string;
  homeDir: string;
  localUser: string;
  /** For PATH (finding `ssh`) and IdentityAgent `$VAR` / SSH_AUTH_SOCK. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** false: never run `ssh -G` (the library decides). Default: use it when `ssh` is installed. */
  useSshClient?: boolean;
}

/** Overrides from the inventory: they win over ssh config (as `ssh -p/-l/-i` would). */
export interface TargetOverrides {
  port?: number;
  user?: string;
}

export class SshConfigError extends Error {}

type Settings = Record<string, string | string[]>;

// Why: OpenSSH users describe hosts in ~/.ssh/config; honouring it avoids a second, diverging
// description of the same server in hosts.yaml. `ssh -G` is ssh's own reading of it (Include,
// Match, defaults), so bg connects with exactly what `ssh ALIAS` would use.
export function resolveSshTarget(alias: string, overrides: TargetOverrides, opts: ResolveOptions): SshTarget {
  // ssh reads `user@host` and `ssh://user@host:port` out of a destination; in the inventory the
  // user and port have fields of their own, so such a value would mean two different things.
  if (alias.includes('@') || /^ssh:\/\//i.test(alias)) {
    throw new SshConfigError(`ssh.host ${JSON.stringify(alias)} is not a host name or ssh config alias: put the user in ssh.user and the port in ssh.port`);
  }
  const fromSsh = opts.useSshClient === false ? undefined : sshG(alias, overrides, opts);
  if (fromSsh) return toTarget(alias, overrides, opts, fromSsh, 'ssh -G');
  const computed = computeFor(alias, opts.configPath);
  return toTarget(alias, overrides, opts, computed, Object.keys(computed).length ? 'ssh-config library' : 'inventory');
}

function toTarget(alias: string, overrides: TargetOverrides, opts: ResolveOptions, computed: Settings, source: TargetSource): SshTarget {
  const get = (key: string): string | undefined => {
    const v = computed[key];
    return Array.isArray(v) ? v[0] : v;
  };
  const all = (key: string): string[] => {
    const v = computed[key];
    return (Array.isArray(v) ? v : v ? [v] : []).filter((f) => f.toLowerCase() !== 'none');
  };
  const where = source === 'ssh -G' ? `ssh -G ${alias}` : opts.configPath;
  const proxyCommand = get('proxycommand');
  if (proxyCommand && proxyCommand.toLowerCase() !== 'none') {
    throw new SshConfigError(`${where}: ProxyCommand for ${alias} is not supported by bg; use ProxyJump instead`);
  }
  // ssh -G has expanded HostName's tokens already; the alias itself is never expanded (a `%` in
  // an inventory value is data).
  const hostName = get('hostname');
  const host = hostName === undefined ? alias : source === 'ssh -G' ? hostName : expandTokens(hostName, { h: alias }, opts);
  const port = overrides.port ?? parsePort(get('port'), where) ?? 22;
  const user = overrides.user ?? get('user') ?? opts.localUser;
  const tokens = { h: host, r: user, p: String(port), n: alias };
  // ssh -G lists ssh's default ~/.ssh/id_* when nothing is configured: those stay bg's own defaults.
  const configuredIdentities = source === 'ssh -G' && isDefaultIdentityList(all('identityfile')) ? [] : all('identityfile');
  const identityFiles = configuredIdentities.map((f) => expandTokens(f, tokens, opts));
  const certificateFiles = all('certificatefile').map((f) => expandTokens(f, tokens, opts));
  const proxyJump = get('proxyjump');
  const jumps = proxyJump && proxyJump.toLowerCase() !== 'none' ? proxyJump.split(',').map(parseJump) : [];
  const words = (key: string) => all(key).flatMap((v) => v.split(/\s+/)).filter((f) => f && f.toLowerCase() !== 'none');
  let userKnownHostsFiles: string[] | undefined = words('userknownhostsfile').map((f) => expandTokens(f, tokens, opts));
  // ssh -G always prints the default pair; only a configured value changes where bg looks.
  if (!userKnownHostsFiles.length || isDefaultKnownHosts(userKnownHostsFiles)) userKnownHostsFiles = undefined;
  const globalKnownHostsFiles = words('globalknownhostsfile');
  return {
    alias,
    host,
    port,
    user,
    identityFiles,
    identitiesOnly: get('identitiesonly')?.toLowerCase() === 'yes',
    identityAgent: resolveAgent(get('identityagent'), tokens, opts),
    ...(userKnownHostsFiles ? { userKnownHostsFiles } : {}),
    ...(globalKnownHostsFiles.length ? { globalKnownHostsFiles } : {}),
    certificateFiles,
    jumps,
    hostKeyName: get('hostkeyalias') ?? host,
    source,
  };
}

function isDefaultIdentityList(files: string[]): boolean {
  return files.length >= 4 && files.every((f) => /^~\/\.ssh\/id_[a-z0-9_]+$/.test(f));
}

function isDefaultKnownHosts(files: string[]): boolean {
  const home = passwdHome();
  return files.length === 2 && files[0] === path.join(home, '.ssh', 'known_hosts') && files[1] === path.join(home, '.ssh', 'known_hosts2');
}

/** IdentityAgent: `none`, `SSH_AUTH_SOCK` (the variable), `$VAR`/`${VAR}`, or a socket path. */
function resolveAgent(value: string | undefined, tokens: Partial<Record<'h' | 'r' | 'p' | 'n', string>>, opts: ResolveOptions): string | null | undefined {
  if (value === undefined) return undefined;
  const env = opts.env ?? process.env;
  if (value.toLowerCase() === 'none') return null;
  if (value === 'SSH_AUTH_SOCK') return env.SSH_AUTH_SOCK || null;
  const variable = /^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$/.exec(value);
  if (variable) return env[variable[1]!] || null;
  return expandTokens(value, tokens, opts);
}

function passwdHome(): string {
  try {
    return os.userInfo().homedir;
  } catch {
    return os.homedir();
  }
}

/**
 * ssh's own reading of the config for `alias`, or undefined when no OpenSSH client is installed.
 * `-F` only when bg's config file is not the one ssh reads by itself (ssh finds ~ through the
 * password database, not $HOME); note that -F skips /etc/ssh/ssh_config, as it does for ssh.
 */
function sshG(alias: string, overrides: TargetOverrides, opts: ResolveOptions): Settings | undefined {
  const env = opts.env ?? process.env;
  const args = ['-G'];
  if (path.resolve(opts.configPath) !== path.join(passwdHome(), '.ssh', 'config')) {
    args.push('-F', existsSync(opts.configPath) ? opts.configPath : '/dev/null');
  }
  if (overrides.port !== undefined) args.push('-p', String(overrides.port));
  if (overrides.user !== undefined) args.push('-l', overrides.user);
  // `--`: an alias is data, never an option (ssh also refuses a hostname starting with `-`).
  args.push('--', alias);
  const r = spawnSync(env.BG_SSH_CLIENT || 'ssh', args, { env, encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) {
    if ((r.error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SshConfigError(`ssh -G ${alias}: ${r.error.message}`);
  }
  if (r.status !== 0) {
    const why = (r.stderr || '').trim().split('\n').slice(-3).join('; ') || `exit ${r.status ?? r.signal}`;
    throw new SshConfigError(`ssh -G ${alias} (reading ${opts.configPath}) failed: ${why}`);
  }
  return parseSshG(r.stdout);
}

/** `ssh -G` prints one lowercase `key value` per line; identityfile and certificatefile repeat. */
export function parseSshG(text: string): Settings {
  const out: Settings = {};
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    const key = m[1]!.toLowerCase();
    const value = m[2]!;
    const prev = out[key];
    out[key] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return out;
}

function computeFor(alias: string, configPath: string): Settings {
  let text: string;
  try {
    text = readFileSync(configPath, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new SshConfigError(`cannot read ssh config ${configPath}: ${(err as Error).message}`);
  }
  try {
    // Directive names are case-insensitive in OpenSSH; `Match exec` is not run (no shell
    // commands from bg's side effects).
    return SSHConfig.parse(text).compute(alias, { ignoreCase: true, matchExec: false });
  } catch (err) {
    throw new SshConfigError(`cannot parse ssh config ${configPath}: ${(err as Error).message}`);
  }
}

function parsePort(value: string | undefined, file: string): number | undefined {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new SshConfigError(`${file}: Port ${value} is not a valid port`);
  }
  return port;
}

/** `[user@]host[:port]` or `ssh://[user@]host[:port]`, as ssh(1) -J accepts. */
export function parseJump(spec: string): JumpSpec {
  let rest = spec.trim().replace(/^ssh:\/\//, '');
  let user: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    user = rest.slice(0, at);
    rest = rest.slice(at + 1);
  }
  let port: number | undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest);
  if (bracketed) {
    rest = bracketed[1]!;
    if (bracketed[2]) port = Number(bracketed[2]);
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon >= 0 && rest.indexOf(':') === colon) {
      port = Number(rest.slice(colon + 1));
      rest = rest.slice(0, colon);
    }
  }
  return { host: rest, ...(port ? { port } : {}), ...(user ? { user } : {}) };
}

/** `~` and the ssh_config(5) tokens bg can know: %d %u %i %l %L %h %r %p %n %%. */
export function expandTokens(
  value: string,
  tokens: Partial<Record<'h' | 'r' | 'p' | 'n', string>>,
  opts: Pick<ResolveOptions, 'homeDir' | 'localUser'>,
): string {
  const expanded = value.replace(/%([%dDuihrpnlL])/g, (whole, t: string) => {
    switch (t) {
      case '%':
        return '%';
      case 'i':
        return String(process.getuid?.() ?? whole);
      case 'l':
        return os.hostname();
      case 'L':
        return os.hostname().split('.')[0]!;
      case 'd':
        return opts.homeDir;
      case 'u':
        return opts.localUser;
      default:
        return tokens[t as 'h' | 'r' | 'p' | 'n'] ?? whole;
    }
  });
  return expandHome(expanded, opts.homeDir);
}

export function expandHome(file: string, homeDir: string = os.homedir()): string {
  if (file === '~') return homeDir;
  if (file.startsWith('~/')) return path.join(homeDir, file.slice(2));
  return file;
}
