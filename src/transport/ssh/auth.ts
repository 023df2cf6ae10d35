// Which credentials bg offers to a server, in which order, and how to explain a refusal.
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ssh2, { type AnyAuthMethod, type AuthHandlerMiddleware, type AuthenticationType, type ParsedKey } from 'ssh2';
import { fingerprintOf } from './known-hosts.js';

/** A credential that can be offered. */
export type AuthCandidate =
  | { kind: 'key'; label: string; key: ParsedKey; fingerprint: string }
  /** `only`: IdentitiesOnly, offer just the agent keys with these fingerprints. */
  | { kind: 'agent'; label: string; socket: string; only?: Set<string> };

export interface AuthPlan {
  candidates: AuthCandidate[];
  /** Credentials that exist but could not be used, each with why (shown if auth fails). */
  unusable: string[];
  /** CertificateFile entries that bg cannot use (named if auth fails). */
  certificates: string[];
}

export interface AuthSources {
  /** `ssh.key` from the inventory, already ~-expanded. */
  keyFile?: string;
  env: NodeJS.ProcessEnv;
  /** IdentityFile entries from ssh config (expanded). */
  identityFiles: string[];
  homeDir: string;
  /** ssh config IdentitiesOnly: no agent key that is not one of the identity files. */
  identitiesOnly?: boolean;
  /** ssh config IdentityAgent: a socket, `null` for none; undefined means $SSH_AUTH_SOCK. */
  agentSocket?: string | null;
  /** ssh config CertificateFile entries: bg cannot offer them (explained if auth fails). */
  certificateFiles?: string[];
}

const DEFAULT_IDENTITIES = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

// Why an explicit ordered list: the brief's precedence (inventory key, BG_SSH_KEY, agent,
// ssh config IdentityFile, default ~/.ssh/id_*), and servers drop the connection after
// MaxAuthTries (6 by default) failed attempts, so the likeliest credentials go first.
export function planAuth(src: AuthSources): AuthPlan {
  const candidates: AuthCandidate[] = [];
  const unusable: string[] = [];
  const seen = new Set<string>();
  const passphrase = src.env.BG_SSH_PASSPHRASE || undefined;

  /** True when the key is (already) a candidate. */
  const addKey = (label: string, text: string | Buffer, quiet = false): boolean => {
    const parsed = parsePrivateKey(text, passphrase);
    if (typeof parsed === 'string') {
      if (!quiet) unusable.push(`${label} (${parsed})`);
      return false;
    }
    const fingerprint = fingerprintOf(parsed.getPublicSSH());
    if (seen.has(fingerprint)) return true;
    seen.add(fingerprint);
    candidates.push({ kind: 'key', label: `${label} (${parsed.type} ${fingerprint})`, key: parsed, fingerprint });
    return true;
  };
  const addKeyFile = (file: string, required: boolean, quiet = false): boolean => {
    let text: Buffer;
    try {
      text = readFileSync(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (!quiet && (required || code !== 'ENOENT')) {
        unusable.push(`key file ${file} (${code === 'ENOENT' ? 'not found' : (err as Error).message})`);
      }
      return false;
    }
    return addKey(`key file ${file}`, text, quiet);
  };

  if (src.keyFile) addKeyFile(src.keyFile, true);

  const envKey = src.env.BG_SSH_KEY;
  if (envKey && envKey.trim()) {
    // CI secrets sometimes arrive with literal "\n" instead of newlines.
    const text = !envKey.includes('\n') && envKey.includes('\\n') ? envKey.replace(/\\n/g, '\n') : envKey;
    addKey('BG_SSH_KEY', text.endsWith('\n') ? text : text + '\n');
  }

  const agent = src.agentSocket === undefined ? src.env.SSH_AUTH_SOCK : src.agentSocket;
  const agentLabel = src.agentSocket === undefined ? `agent SSH_AUTH_SOCK=${agent}` : `agent ${agent} (IdentityAgent)`;
  const agentUsable = (socket: string) => {
    // ssh2 reports an unreachable agent as a connection error: only offer a live socket.
    if (isSocket(socket)) return true;
    unusable.push(`${agentLabel} (no such socket)`);
    return false;
  };

  if (src.identitiesOnly) {
    // IdentitiesOnly (as ssh does): each identity file's key, and from the agent only the keys
    // whose private half is not readable here but whose public key (FILE or FILE.pub) names them.
    // Offering every agent key instead runs into the server's MaxAuthTries.
    const viaAgent = new Set<string>();
    for (const file of src.identityFiles) {
      const pub = publicKeyOf(file);
      // Without an agent to sign for it, an unusable private key is worth reporting.
      if (addKeyFile(file, false, Boolean(pub && agent))) continue;
      if (pub) viaAgent.add(pub);
    }
    if (agent && viaAgent.size && agentUsable(agent)) {
      candidates.push({ kind: 'agent', label: `${agentLabel}, only ${[...viaAgent].join(', ')} (IdentitiesOnly)`, socket: agent, only: viaAgent });
    }
    return { candidates, unusable, certificates: src.certificateFiles ?? [] };
  }

  if (agent && agentUsable(agent)) candidates.push({ kind: 'agent', label: agentLabel, socket: agent });

  for (const file of src.identityFiles) addKeyFile(file, false);
  if (!src.keyFile && src.identityFiles.length === 0) {
    for (const name of DEFAULT_IDENTITIES) addKeyFile(path.join(src.homeDir, '.ssh', name), false);
  }
  return { candidates, unusable, certificates: src.certificateFiles ?? [] };
}

/** Fingerprint of the public key of an identity: FILE.pub, or FILE itself when it is a public key. */
function publicKeyOf(file: string): string | undefined {
  for (const candidate of [`${file}.pub`, file]) {
    let text: Buffer;
    try {
      text = readFileSync(candidate);
    } catch {
      continue;
    }
    const parsed = ssh2.utils.parseKey(text);
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    if (key && !(key instanceof Error) && !key.isPrivateKey()) return fingerprintOf(key.getPublicSSH());
  }
  return undefined;
}

/** An agent that lists only some of its keys (IdentitiesOnly): ssh2 offers every listed key. */
export class FilteredAgent extends ssh2.OpenSSHAgent {
  constructor(
    socket: string,
    private readonly only: Set<string>,
  ) {
    super(socket);
  }

  override getIdentities(cb: Parameters<ssh2.OpenSSHAgent['getIdentities']>[0]): void {
    super.getIdentities((err, keys) => {
      if (err || !keys) return cb(err as Error, keys as ParsedKey[]);
      cb(undefined as unknown as Error, keys.filter((k) => this.only.has(fingerprintOf((k as ParsedKey).getPublicSSH()))));
    });
  }
}

/** A parsed private key, or why it cannot be used. */
function parsePrivateKey(text: string | Buffer, passphrase: string | undefined): ParsedKey | string {
  let parsed = ssh2.utils.parseKey(text, passphrase);
  if (parsed instanceof Error && passphrase) {
    // A passphrase given for another key must not break an unencrypted one.
    const plain = ssh2.utils.parseKey(text);
    if (!(plain instanceof Error)) parsed = plain;
  }
  if (parsed instanceof Error) {
    if (/encrypted|passphrase/i.test(parsed.message)) {
      return passphrase ? 'encrypted; BG_SSH_PASSPHRASE does not decrypt it' : 'encrypted; set BG_SSH_PASSPHRASE';
    }
    return `not a usable private key: ${parsed.message}`;
  }
  const key = Array.isArray(parsed) ? (parsed[0] as ParsedKey | undefined) : parsed;
  if (!key || !key.isPrivateKey()) return 'not a private key';
  return key;
}

function isSocket(file: string): boolean {
  try {
    return statSync(file).isSocket();
  } catch {
    return false;
  }
}

export interface AuthTracker {
  handler: AuthHandlerMiddleware;
  /** Labels of the credentials offered so far. */
  tried: string[];
  /** Methods the server said it accepts (from its last USERAUTH_FAILURE), if known. */
  serverMethods(): AuthenticationType[] | undefined;
}

// Why a middleware rather than ssh2's `privateKey` + `agent`: ssh2 takes one key only; bg
// offers several in order and records what it offered, to explain a refusal.
export function makeAuthHandler(plan: AuthPlan, username: string): AuthTracker {
  const tried: string[] = [];
  let next = 0;
  let methods: AuthenticationType[] | undefined;
  const handler: AuthHandlerMiddleware = (authsLeft, _partial, callback) => {
    if (Array.isArray(authsLeft)) methods = authsLeft;
    while (next < plan.candidates.length) {
      const c = plan.candidates[next++]!;
      if (methods && !methods.includes('publickey')) break; // the server stopped accepting keys
      tried.push(c.label);
      const method: AnyAuthMethod =
        c.kind === 'key'
          ? { type: 'publickey', username, key: c.key }
          : { type: 'agent', username, agent: c.only ? new FilteredAgent(c.socket, c.only) : c.socket };
      callback(method);
      return;
    }
    // `false` tells ssh2 there is nothing left: "All configured authentication methods failed".
    (callback as unknown as (v: false) => void)(false);
  };
  return { handler, tried, serverMethods: () => methods };
}

/** The reason given when the server accepted none of the credentials. */
export function describeAuthFailure(plan: AuthPlan, tracker: AuthTracker): string {
  const parts: string[] = [];
  if (plan.candidates.length === 0) {
    parts.push('no credential to offer: set ssh.key in the inventory, BG_SSH_KEY, or SSH_AUTH_SOCK (agent)');
  } else if (tracker.tried.length) {
    parts.push(`the server refused ${tracker.tried.join(', ')}`);
  }
  const untried = plan.candidates.filter((c) => !tracker.tried.includes(c.label)).map((c) => c.label);
  if (untried.length) parts.push(`not tried (server stopped accepting keys): ${untried.join(', ')}`);
  if (plan.unusable.length) parts.push(`unusable: ${plan.unusable.join(', ')}`);
  if (plan.certificates.length) {
    parts.push(
      `CertificateFile ${plan.certificates.join(', ')} is configured, but bg cannot offer OpenSSH certificates ` +
        `(its SSH library, ssh2, does not support them); authorize the plain key on the server, or name one with ssh.key`,
    );
  }
  const methods = tracker.serverMethods();
  if (methods && !methods.includes('publickey')) {
    parts.push(`the server accepts only ${methods.join(', ') || 'nothing'} (bg uses keys)`);
  }
  return parts.join('; ');
}
