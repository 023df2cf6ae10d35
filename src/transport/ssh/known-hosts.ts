// known_hosts checking, kept pure (text in, verdict out) so every case is unit-testable.
// Format: sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT".
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { appendFileSync, mkdirSync, openSync, closeSync, readFileSync, statSync, readSync } from 'node:fs';
import path from 'node:path';

/** A known_hosts file's content and where it came from (for messages). */
export interface KnownHostsSource {
  path: string;
  text: string;
}

export interface KnownKey {
  file: string;
  /** 1-based line number. */
  line: number;
  keyType: string;
  fingerprint: string;
}

export type HostKeyVerdict =
  | { kind: 'match'; entry: KnownKey }
  /** The host appears in no file (or only with @cert-authority lines, which bg does not use). */
  | { kind: 'unknown' }
  /** The host is known, but with other key(s): possibly an attack. `known[0]` is the first. */
  | { kind: 'changed'; known: KnownKey[] }
  /** The presented key is listed under @revoked. */
  | { kind: 'revoked'; entry: KnownKey };

/** `host` for port 22, `[host]:port` otherwise: the name known_hosts and ssh-keygen -R use. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** `SHA256:base64` without padding, as `ssh-keygen -lf` prints it. */
export function fingerprintOf(keyBlob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '');
}

/** The key type inside an SSH public key blob (a uint32-length-prefixed string first). */
export function keyTypeOf(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return 'unknown';
  const len = keyBlob.readUInt32BE(0);
  if (len > keyBlob.length - 4 || len > 64) return 'unknown';
  return keyBlob.subarray(4, 4 + len).toString('latin1');
}

/** Compare a pinned `SHA256:...` fingerprint with a key; tolerant of `=` padding. */
export function fingerprintMatches(pinned: string, keyBlob: Buffer): boolean {
  const norm = (f: string) => f.trim().replace(/=+$/, '');
  return norm(pinned) === norm(fingerprintOf(keyBlob));
}

interface ParsedLine {
  line: number;
  marker?: '@revoked' | '@cert-authority' | string;
  patterns: string;
  keyType: string;
  keyBlob: Buffer;
}

function parseLines(text: string): ParsedLine[] {
  const out: ParsedLine[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (!raw || raw.startsWith('#')) continue;
    const fields = raw.split(/\s+/);
    let marker: string | undefined;
    if (fields[0]?.startsWith('@')) marker = fields.shift();
    const [patterns, keyType, b64] = fields;
    if (!patterns || !keyType || !b64) continue;
    const keyBlob = Buffer.from(b64, 'base64');
    if (keyBlob.length === 0) continue;
    out.push({ line: i + 1, marker, patterns, keyType, keyBlob });
  }
  return out;
}

/** Glob match for known_hosts patterns: `*` and `?`, case-insensitive like OpenSSH. */
function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(
    '^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$',
    'i',
  );
  return re.test(name);
}

function hashedMatch(entry: string, name: string): boolean {
  // |1|base64(salt)|base64(HMAC-SHA1(salt, name))
  const parts = entry.split('|');
  if (parts.length !== 4 || parts[1] !== '1' || !parts[2] || !parts[3]) return false;
  const salt = Buffer.from(parts[2], 'base64');
  const expected = Buffer.from(parts[3], 'base64');
  const actual = createHmac('sha1', salt).update(name).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** Does a host-pattern field (comma list, negations, wildcards or one hashed name) cover `name`? */
export function hostPatternsMatch(patterns: string, name: string): boolean {
  if (patterns.startsWith('|')) return hashedMatch(patterns, name);
  let matched = false;
  for (const p of patterns.split(',')) {
    if (!p) continue;
    if (p.startsWith('!')) {
      if (globMatch(p.slice(1), name)) return false; // a negated match excludes the line
    } else if (globMatch(p, name)) {
      matched = true;
    }
  }
  return matched;
}

// Why: this decides whether bg talks to a server at all; it must be exact and testable without
// a network. Precedence follows OpenSSH: revoked beats everything, any exact match accepts,
// a known host with only other keys is "changed", otherwise "unknown".
export function checkKnownHosts(
  sources: KnownHostsSource[],
  host: string,
  port: number,
  keyBlob: Buffer,
): HostKeyVerdict {
  const name = knownHostsName(host, port);
  let match: KnownKey | undefined;
  const others: KnownKey[] = [];
  for (const source of sources) {
    for (const entry of parseLines(source.text)) {
      const sameKey = entry.keyBlob.equals(keyBlob);
      const known: KnownKey = {
        file: source.path,
        line: entry.line,
        keyType: entry.keyType,
        fingerprint: fingerprintOf(entry.keyBlob),
      };
      if (entry.marker === '@revoked') {
        // A revoked key is never acceptable, whatever host pattern it is filed under.
        if (sameKey) return { kind: 'revoked', entry: known };
        continue;
      }
      if (entry.marker !== undefined) continue; // @cert-authority (unsupported) or unknown marker
      if (!hostPatternsMatch(entry.patterns, name)) continue;
      if (sameKey) match ??= known;
      else others.push(known);
    }
  }
  if (match) return { kind: 'match', entry: match };
  if (others.length) return { kind: 'changed', known: others };
  return { kind: 'unknown' };
}

/** Key types known for a host, to ask the server for one of those first (as OpenSSH does). */
export function knownKeyTypes(sources: KnownHostsSource[], host: string, port: number): string[] {
  const name = knownHostsName(host, port);
  const types = new Set<string>();
  for (const source of sources) {
    for (const entry of parseLines(source.text)) {
      if (entry.marker === undefined && hostPatternsMatch(entry.patterns, name)) types.add(entry.keyType);
    }
  }
  return [...types];
}

/** The line `--accept-new-host-key` records. */
export function knownHostsLine(host: string, port: number, keyBlob: Buffer): string {
  return `${knownHostsName(host, port)} ${keyTypeOf(keyBlob)} ${keyBlob.toString('base64')}`;
}

/** Read a known_hosts file; a missing file is simply empty. */
export function readKnownHosts(file: string): KnownHostsSource {
  try {
    return { path: file, text: readFileSync(file, 'utf8') };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { path: file, text: '' };
    throw err;
  }
}

// Why synchronous: it runs inside ssh2's hostVerifier, which must decide synchronously
// (NOTES.md: an async verifier accepts anything).
export function appendKnownHost(file: string, line: string): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  let prefix = '';
  try {
    const size = statSync(file).size;
    if (size > 0) {
      // Make sure the new entry starts on its own line.
      const fd = openSync(file, 'r');
      const last = Buffer.alloc(1);
      readSync(fd, last, 0, 1, size - 1);
      closeSync(fd);
      if (last[0] !== 0x0a) prefix = '\n';
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  appendFileSync(file, `${prefix}${line}\n`, { mode: 0o600 });
}
