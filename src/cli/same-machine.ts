// Two inventory hosts that reach the same machine and the same journal directory would share one
// lock: a run over both takes the lock for the first and then finds it "held by another run",
// naming itself. Found before connecting, from the inventory (and ssh's own reading of
// ~/.ssh/config when an OpenSSH client is installed), and refused as bad input.
import os from 'node:os';
import path from 'node:path';
import type { HostConfig } from '../config/inventory-schema.js';
import { UsageError } from '../errors.js';
import { expandHome, resolveSshTarget, type SshTarget } from '../transport/ssh/ssh-config.js';

/** How an ssh host is reached once ssh config is applied: address, user, port, jump hosts. */
export type ResolveSsh = (alias: string, overrides: { port?: number; user?: string }) => Pick<SshTarget, 'host' | 'user' | 'port' | 'jumps'> | undefined;

/** Where a host's lock lives: `deploy@10.1.2.3:22` (or `this machine`) and the journal directory. */
export interface Place {
  machine: string;
  journal: string;
}

/** `~/.bg/`, `~/.bg` and `~//.bg` are one directory; other spellings (`/home/u/.bg`) are not recognised. */
export function normalJournal(journal: string): string {
  return journal.replace(/\/{2,}/g, '/').replace(/(.)\/+$/, '$1');
}

export function placeOf(cfg: HostConfig, resolve: ResolveSsh): Place {
  const journal = normalJournal(cfg.journal);
  if (!cfg.ssh) return { machine: 'this machine', journal };
  const t = resolve(cfg.ssh.host, { port: cfg.ssh.port, user: cfg.ssh.user });
  // Without ssh config: the inventory values with ssh's defaults (port 22, the local user).
  const host = (t?.host ?? cfg.ssh.host).toLowerCase();
  const user = t?.user ?? cfg.ssh.user ?? localUser();
  const port = t?.port ?? cfg.ssh.port ?? 22;
  // The same address behind different jump hosts may be different machines (private networks).
  const via = t?.jumps.length ? ` via ${t.jumps.map((j) => `${j.user ? j.user + '@' : ''}${j.host.toLowerCase()}:${j.port ?? 22}`).join(',')}` : '';
  return { machine: `${user}@${host}:${port}${via}`, journal };
}

/** Groups of selected hosts (2 or more each, in selection order) that share a machine and journal. */
export function sameMachineGroups(hosts: ReadonlyArray<{ name: string; config: HostConfig }>, resolve: ResolveSsh): Array<{ names: string[]; place: Place }> {
  const groups = new Map<string, { names: string[]; place: Place }>();
  for (const h of hosts) {
    const place = placeOf(h.config, resolve);
    const key = JSON.stringify([place.machine, place.journal]);
    const g = groups.get(key) ?? { names: [], place };
    g.names.push(h.name);
    groups.set(key, g);
  }
  return [...groups.values()].filter((g) => g.names.length > 1);
}

/** Exit 2 naming the hosts when two selected hosts are the same machine and journal. */
export function refuseSameMachine(hosts: ReadonlyArray<{ name: string; config: HostConfig }>, resolve: ResolveSsh = sshResolver(hosts)): void {
  const groups = sameMachineGroups(hosts, resolve);
  if (groups.length === 0) return;
  const list = (names: string[]) => (names.length === 2 ? `${names[0]} and ${names[1]}` : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`);
  const lines = groups.map(
    (g) => `hosts ${list(g.names)} are the same machine and journal (${g.place.machine}, ${g.place.journal}): name one of them (they share one lock: a run over both would find it held by itself)`,
  );
  throw new UsageError(lines.join('\n'));
}

/**
 * ssh's reading of ~/.ssh/config when it is cheap: only when two or more ssh hosts are selected
 * (one `ssh -G` each). A host that does not resolve is compared by its inventory values; connecting
 * reports its problem later.
 */
export function sshResolver(hosts: ReadonlyArray<{ config: HostConfig }>, env: NodeJS.ProcessEnv = process.env): ResolveSsh {
  if (hosts.filter((h) => h.config.ssh).length < 2) return () => undefined;
  const homeDir = os.homedir();
  const opts = {
    homeDir,
    localUser: localUser(),
    configPath: expandHome(env.BG_SSH_CONFIG || path.join(homeDir, '.ssh', 'config'), homeDir),
    env,
  };
  return (alias, overrides) => {
    try {
      return resolveSshTarget(alias, overrides, opts);
    } catch {
      return undefined;
    }
  };
}

function localUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return process.env.USER ?? process.env.LOGNAME ?? 'root';
  }
}
