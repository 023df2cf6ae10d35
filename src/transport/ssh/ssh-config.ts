// Resolves an inventory host through ~/.ssh/config (aliases, HostName, User, Port, IdentityFile,
// ProxyJump) so `ssh: { host: prod }` means what `ssh prod` means to the user.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SSHConfig from 'ssh-config';

export interface JumpSpec {
  host: string;
  port?: number;
  user?: string;
}

export interface SshTarget {
  /** The name as written in the inventory (may be an alias). */
  alias: string;
  /** Address to connect to (HostName, or the alias itself). */
  host: string;
  port: number;
  user: string;
  /** IdentityFile entries from ssh config, expanded; missing files are kept (skipped later). */
  identityFiles: string[];
  /** Jump hosts, first hop first (ProxyJump `a,b` means reach a, then b, then the target). */
  jumps: JumpSpec[];
  /** Name used for known_hosts (HostKeyAlias, else host). */
  hostKeyName: string;
}

export interface ResolveOptions {
  /** ssh config file; absent file means no ssh config. */
  configPath: string;
  homeDir: string;
  localUser: string;
}

/** Overrides from the inventory: they win over ssh config (as `ssh -p/-l/-i` would). */
export interface TargetOverrides {
  port?: number;
  user?: string;
}

export class SshConfigError extends Error {}

// Why: OpenSSH users describe hosts in ~/.ssh/config; honouring it avoids a second, diverging
// description of the same server in hosts.yaml.
export function resolveSshTarget(alias: string, overrides: TargetOverrides, opts: ResolveOptions): SshTarget {
  const computed = computeFor(alias, opts.configPath);
  const get = (key: string): string | undefined => {
    const v = computed[key];
    return Array.isArray(v) ? v[0] : v;
  };
  const proxyCommand = get('proxycommand');
  if (proxyCommand && proxyCommand.toLowerCase() !== 'none') {
    throw new SshConfigError(
      `${opts.configPath}: ProxyCommand for ${alias} is not supported by bg; use ProxyJump instead`,
    );
  }
  const host = expandTokens(get('hostname') ?? alias, { h: alias }, opts);
  const port = overrides.port ?? parsePort(get('port'), opts.configPath) ?? 22;
  const user = overrides.user ?? get('user') ?? opts.localUser;
  const tokens = { h: host, r: user, p: String(port), n: alias };
  const rawIdentity = computed['identityfile'];
  const identityFiles = (Array.isArray(rawIdentity) ? rawIdentity : rawIdentity ? [rawIdentity] : [])
    .filter((f) => f.toLowerCase() !== 'none')
    .map((f) => expandTokens(f, tokens, opts));
  const proxyJump = get('proxyjump');
  const jumps = proxyJump && proxyJump.toLowerCase() !== 'none' ? proxyJump.split(',').map(parseJump) : [];
  return { alias, host, port, user, identityFiles, jumps, hostKeyName: get('hostkeyalias') ?? host };
}

function computeFor(alias: string, configPath: string): Record<string, string | string[]> {
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

/** `~` and the ssh_config(5) tokens bg can know: %d %u %h %r %p %n %%. */
export function expandTokens(
  value: string,
  tokens: Partial<Record<'h' | 'r' | 'p' | 'n', string>>,
  opts: Pick<ResolveOptions, 'homeDir' | 'localUser'>,
): string {
  const expanded = value.replace(/%([%dDuhrpn])/g, (whole, t: string) => {
    switch (t) {
      case '%':
        return '%';
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
