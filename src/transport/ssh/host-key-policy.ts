// Turns known_hosts / a pinned fingerprint into ssh2's synchronous hostVerifier, remembering
// why a key was refused so the ConnectionError can say it plainly.
import {
  appendKnownHost,
  checkKnownHosts,
  fingerprintMatches,
  fingerprintOf,
  keyTypeOf,
  knownHostsLine,
  knownHostsName,
  knownKeyTypes,
  readKnownHosts,
  type KnownHostsSource,
} from './known-hosts.js';
import { shellQuote } from '../../plan/quote.js';

export interface HostKeyPolicy {
  /** `SHA256:...` from the inventory: replaces the known_hosts check. */
  pinnedFingerprint?: string;
  /** The known_hosts file bg reads and, with acceptNew, writes. */
  knownHostsFile: string;
  /** Read-only extra files (e.g. /etc/ssh/ssh_known_hosts). */
  extraKnownHostsFiles: string[];
  /** `--accept-new-host-key`: record an unknown host's key (never a changed one). */
  acceptNew: boolean;
  /** True when knownHostsFile is ~/.ssh/known_hosts (messages then omit `-f FILE`). */
  isDefaultFile: boolean;
}

export interface HostKeyCheck {
  /** For ssh2's `hostVerifier`: synchronous, returns the boolean false to refuse. */
  verify(keyBlob: Buffer): boolean;
  /** Why the last key was refused, if it was. */
  refusal(): string | undefined;
  /** Host key algorithms to offer, known key types first (as OpenSSH orders them). */
  algorithms(): string[] | undefined;
  /** Set when the key was unknown and has just been recorded. */
  recorded(): string | undefined;
}

/** Always single-quoted (as these hints always were), with embedded quotes escaped. */
const quoted = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;

const DEFAULT_HOST_KEY_ALGOS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];
const ALGOS_BY_KEY_TYPE: Record<string, string[]> = {
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};

// Why: NOTES.md — ssh2 accepts ANY host key unless a synchronous verifier returns `false`.
// This is the only place bg decides to trust a server.
export function makeHostKeyCheck(policy: HostKeyPolicy, host: string, port: number): HostKeyCheck {
  const name = knownHostsName(host, port);
  let refusal: string | undefined;
  let recorded: string | undefined;
  let accepted: Buffer | undefined;
  let sources: KnownHostsSource[] | undefined;
  const load = (): KnownHostsSource[] => {
    sources ??= [policy.knownHostsFile, ...policy.extraKnownHostsFiles].map(readKnownHosts);
    return sources;
  };
  // Hints are commands to paste: every value in them is shell-quoted (a path may hold spaces).
  const removeHint = () =>
    `ssh-keygen -R ${quoted(name)}${policy.isDefaultFile ? '' : ` -f ${quoted(policy.knownHostsFile)}`}`;

  const verify = (keyBlob: Buffer): boolean => {
    // ssh2 may verify again on re-key: the same key stays accepted.
    if (accepted && accepted.equals(keyBlob)) return true;
    const fp = fingerprintOf(keyBlob);
    const type = keyTypeOf(keyBlob);
    if (policy.pinnedFingerprint) {
      if (fingerprintMatches(policy.pinnedFingerprint, keyBlob)) {
        accepted = keyBlob;
        return true;
      }
      refusal =
        `host key of ${name} is ${type} ${fp}, not the fingerprint pinned in the inventory ` +
        `(${policy.pinnedFingerprint}) — refusing; if the server's key really changed, update ssh.fingerprint`;
      return false;
    }
    let verdict;
    try {
      verdict = checkKnownHosts(load(), host, port, keyBlob);
    } catch (err) {
      refusal = `cannot read known_hosts: ${(err as Error).message}`;
      return false;
    }
    switch (verdict.kind) {
      case 'match':
        accepted = keyBlob;
        return true;
      case 'revoked':
        refusal =
          `host key of ${name} (${type} ${fp}) is marked @revoked at line ${verdict.entry.line} ` +
          `of ${verdict.entry.file} — refusing`;
        return false;
      case 'changed': {
        const k = verdict.known[0]!;
        const now = k.keyType === type ? fp : `${type} ${fp}`;
        const was = k.keyType === type ? k.fingerprint : `${k.keyType} ${k.fingerprint}`;
        refusal =
          `host key CHANGED for ${name} (now ${now}; known_hosts line ${k.line} of ${k.file} has ${was}) ` +
          `— refusing; if the change is expected remove the old entry with \`${removeHint()}\``;
        return false;
      }
      case 'unknown': {
        if (!policy.acceptNew) {
          const keyscan = `ssh-keyscan ${port === 22 ? '' : `-p ${port} `}-t ${shellQuote(type.replace(/^ssh-/, ''))} ${shellQuote(host)} >> ${shellQuote(policy.knownHostsFile)}`;
          refusal =
            `host key of ${name} is not known (${type} ${fp}; checked ${load().map((s) => s.path).join(', ')}) — refusing; ` +
            `if that fingerprint is the server's, rerun with --accept-new-host-key, or add it with \`${keyscan}\``;
          return false;
        }
        try {
          appendKnownHost(policy.knownHostsFile, knownHostsLine(host, port, keyBlob));
        } catch (err) {
          refusal = `cannot record the new host key of ${name} in ${policy.knownHostsFile}: ${(err as Error).message}`;
          return false;
        }
        recorded = `recorded new host key of ${name} (${type} ${fp}) in ${policy.knownHostsFile}`;
        accepted = keyBlob;
        return true;
      }
    }
  };

  return {
    verify,
    refusal: () => refusal,
    recorded: () => recorded,
    algorithms() {
      if (policy.pinnedFingerprint) return undefined;
      let types: string[];
      try {
        types = knownKeyTypes(load(), host, port);
      } catch {
        return undefined;
      }
      if (types.length === 0) return undefined;
      const preferred = types.flatMap((t) => ALGOS_BY_KEY_TYPE[t] ?? [t]).filter((a) => DEFAULT_HOST_KEY_ALGOS.includes(a));
      if (preferred.length === 0) return undefined;
      return [...new Set([...preferred, ...DEFAULT_HOST_KEY_ALGOS])];
    },
  };
}
