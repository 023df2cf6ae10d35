import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  checkKnownHosts,
  fingerprintMatches,
  fingerprintOf,
  hostPatternsMatch,
  keyTypeOf,
  knownHostsLine,
  knownHostsName,
  knownKeyTypes,
} from '../../src/transport/ssh/known-hosts.js';
import { makeHostKeyCheck, type HostKeyPolicy } from '../../src/transport/ssh/host-key-policy.js';
import { expandTokens, parseJump, resolveSshTarget } from '../../src/transport/ssh/ssh-config.js';
import { Semaphore } from '../../src/transport/ssh/semaphore.js';
import { stripFinalNewline } from '../../src/transport/ssh.js';

/** An SSH wire-format public key blob: string type, then (for ed25519) string key. */
function blob(type = 'ssh-ed25519'): Buffer {
  const str = (b: Buffer) => Buffer.concat([u32(b.length), b]);
  return Buffer.concat([str(Buffer.from(type)), str(randomBytes(32))]);
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}
const line = (hosts: string, key: Buffer) => `${hosts} ${keyTypeOf(key)} ${key.toString('base64')}`;
const hashed = (name: string) => {
  const salt = randomBytes(20);
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
};
const src = (text: string, file = '/kh') => [{ path: file, text }];

describe('known_hosts matching', () => {
  const key = blob();
  const other = blob();

  it('names hosts like OpenSSH', () => {
    expect(knownHostsName('example.com', 22)).toBe('example.com');
    expect(knownHostsName('127.0.0.1', 2222)).toBe('[127.0.0.1]:2222');
    expect(knownHostsLine('127.0.0.1', 2222, key)).toBe(`[127.0.0.1]:2222 ssh-ed25519 ${key.toString('base64')}`);
    expect(keyTypeOf(key)).toBe('ssh-ed25519');
    expect(fingerprintOf(key)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('accepts a plain entry on port 22 and [host]:port otherwise', () => {
    expect(checkKnownHosts(src(line('example.com', key)), 'example.com', 22, key).kind).toBe('match');
    expect(checkKnownHosts(src(line('[10.0.0.1]:2222', key)), '10.0.0.1', 2222, key).kind).toBe('match');
    // A port-22 entry says nothing about another port.
    expect(checkKnownHosts(src(line('10.0.0.1', key)), '10.0.0.1', 2222, key).kind).toBe('unknown');
  });

  it('handles comma lists, wildcards and negation', () => {
    expect(checkKnownHosts(src(line('a.example,10.0.0.1,b.example', key)), '10.0.0.1', 22, key).kind).toBe('match');
    expect(hostPatternsMatch('*.example.com', 'web.example.com')).toBe(true);
    expect(hostPatternsMatch('*.example.com,!db.example.com', 'db.example.com')).toBe(false);
    expect(hostPatternsMatch('10.0.0.?', '10.0.0.7')).toBe(true);
    expect(hostPatternsMatch('WEB.example.com', 'web.example.com')).toBe(true);
    expect(hostPatternsMatch('web.example.com', 'webXexample.com')).toBe(false);
  });

  it('matches hashed |1|salt|hash entries, including [host]:port names', () => {
    expect(checkKnownHosts(src(line(hashed('example.com'), key)), 'example.com', 22, key).kind).toBe('match');
    expect(checkKnownHosts(src(line(hashed('[127.0.0.1]:2222'), key)), '127.0.0.1', 2222, key).kind).toBe('match');
    expect(checkKnownHosts(src(line(hashed('[127.0.0.1]:2222'), key)), '127.0.0.1', 2223, key).kind).toBe('unknown');
  });

  it('reports a changed key with file and line', () => {
    const text = ['# comment', '', line('other.example', other), line('[127.0.0.1]:2222', other)].join('\n');
    const v = checkKnownHosts(src(text, '/home/u/.ssh/known_hosts'), '127.0.0.1', 2222, key);
    expect(v).toEqual({
      kind: 'changed',
      known: [{ file: '/home/u/.ssh/known_hosts', line: 4, keyType: 'ssh-ed25519', fingerprint: fingerprintOf(other) }],
    });
  });

  it('prefers a match over an older different key for the same host', () => {
    const text = [line('example.com', other), line('example.com', key)].join('\n');
    expect(checkKnownHosts(src(text), 'example.com', 22, key)).toMatchObject({ kind: 'match', entry: { line: 2 } });
  });

  it('refuses a @revoked key even when another line accepts it', () => {
    const text = [line('example.com', key), `@revoked * ${keyTypeOf(key)} ${key.toString('base64')}`].join('\n');
    expect(checkKnownHosts(src(text), 'example.com', 22, key)).toMatchObject({ kind: 'revoked', entry: { line: 2 } });
  });

  it('ignores @cert-authority lines and garbage safely', () => {
    const text = [`@cert-authority *.example.com ${keyTypeOf(other)} ${other.toString('base64')}`, 'garbage', '@revoked', 'x y'].join('\n');
    expect(checkKnownHosts(src(text), 'web.example.com', 22, key).kind).toBe('unknown');
  });

  it('lists known key types for algorithm ordering', () => {
    const rsa = blob('ssh-rsa');
    expect(knownKeyTypes(src([line('h', rsa), line('h', key)].join('\n')), 'h', 22)).toEqual(['ssh-rsa', 'ssh-ed25519']);
  });

  it('compares pinned fingerprints with or without padding', () => {
    expect(fingerprintMatches(fingerprintOf(key), key)).toBe(true);
    expect(fingerprintMatches(fingerprintOf(key) + '=', key)).toBe(true);
    expect(fingerprintMatches(fingerprintOf(other), key)).toBe(false);
  });
});

describe('host key policy', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bg-kh-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const key = blob();
  const policy = (file: string, extra: Partial<HostKeyPolicy> = {}): HostKeyPolicy => ({
    knownHostsFile: file,
    extraKnownHostsFiles: [],
    acceptNew: false,
    isDefaultFile: false,
    ...extra,
  });

  it('refuses an unknown host with its fingerprint and how to trust it', () => {
    const check = makeHostKeyCheck(policy(path.join(dir, 'none')), '127.0.0.1', 2222);
    expect(check.verify(key)).toBe(false);
    expect(check.refusal()).toContain(fingerprintOf(key));
    expect(check.refusal()).toContain('--accept-new-host-key');
    expect(check.refusal()).toContain('ssh-keyscan -p 2222 -t ed25519 127.0.0.1');
  });

  it('records a new host with 0600 file in a 0700 dir when accepting new keys', () => {
    const file = path.join(dir, 'sub', 'known_hosts');
    const check = makeHostKeyCheck(policy(file, { acceptNew: true }), '127.0.0.1', 2222);
    expect(check.verify(key)).toBe(true);
    expect(check.recorded()).toContain(file);
    expect(readFileSync(file, 'utf8')).toBe(knownHostsLine('127.0.0.1', 2222, key) + '\n');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    expect(makeHostKeyCheck(policy(file), '127.0.0.1', 2222).verify(key)).toBe(true);
  });

  it('appends on a new line when the file lacks a final newline', () => {
    const file = path.join(dir, 'no-newline');
    const k2 = blob();
    writeFileSync(file, line('other', k2));
    expect(makeHostKeyCheck(policy(file, { acceptNew: true }), 'h', 22).verify(key)).toBe(true);
    expect(readFileSync(file, 'utf8').split('\n')).toEqual([line('other', k2), knownHostsLine('h', 22, key), '']);
  });

  it('refuses a changed key even when accepting new keys, and says how to fix it', () => {
    const file = path.join(dir, 'changed');
    writeFileSync(file, line('[127.0.0.1]:2222', blob()) + '\n');
    const check = makeHostKeyCheck(policy(file, { acceptNew: true }), '127.0.0.1', 2222);
    expect(check.verify(key)).toBe(false);
    expect(check.refusal()).toMatch(/^host key CHANGED for \[127\.0\.0\.1\]:2222 \(now SHA256:\S+; known_hosts line 1 of .*changed has SHA256:/);
    expect(check.refusal()).toContain(`ssh-keygen -R '[127.0.0.1]:2222' -f '${file}'`);
    expect(readFileSync(file, 'utf8').split('\n').filter(Boolean)).toHaveLength(1);
  });

  it('uses a pinned fingerprint instead of known_hosts', () => {
    const file = path.join(dir, 'none');
    expect(makeHostKeyCheck(policy(file, { pinnedFingerprint: fingerprintOf(key) }), 'h', 22).verify(key)).toBe(true);
    const wrong = makeHostKeyCheck(policy(file, { pinnedFingerprint: fingerprintOf(blob()), acceptNew: true }), 'h', 22);
    expect(wrong.verify(key)).toBe(false);
    expect(wrong.refusal()).toContain('pinned');
  });

  it('orders host key algorithms with the known type first', () => {
    const file = path.join(dir, 'rsa');
    writeFileSync(file, line('h', blob('ssh-rsa')) + '\n');
    expect(makeHostKeyCheck(policy(file), 'h', 22).algorithms()?.slice(0, 3)).toEqual(['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
    expect(makeHostKeyCheck(policy(path.join(dir, 'none')), 'h', 22).algorithms()).toBeUndefined();
  });
});

describe('ssh config resolution', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bg-sshcfg-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const configPath = path.join(dir, 'config');
  writeFileSync(
    configPath,
    [
      'Host web',
      '  HostName 10.0.0.5',
      '  port 2200',
      '  User deploy',
      '  IdentityFile ~/.ssh/web_%r',
      '  ProxyJump admin@bastion:2022',
      'Host *.internal',
      '  HostName %h.example.com',
      'Host *',
      '  User fallback',
      '  IdentityFile %d/.ssh/all',
    ].join('\n'),
  );
  // The ssh-config library path (the fallback without an OpenSSH client); ssh -G: test/e2e/ssh-config.test.ts.
  const opts = { configPath, homeDir: '/home/me', localUser: 'me', useSshClient: false };

  it('applies HostName, Port, User, IdentityFile and ProxyJump', () => {
    expect(resolveSshTarget('web', {}, opts)).toEqual({
      alias: 'web',
      host: '10.0.0.5',
      port: 2200,
      user: 'deploy',
      identityFiles: ['/home/me/.ssh/web_deploy', '/home/me/.ssh/all'],
      jumps: [{ host: 'bastion', port: 2022, user: 'admin' }],
      hostKeyName: '10.0.0.5',
      identitiesOnly: false,
      certificateFiles: [],
      source: 'ssh-config library',
    });
  });

  it('lets inventory values win and expands %h', () => {
    const t = resolveSshTarget('db.internal', { port: 22, user: 'ubuntu' }, opts);
    expect(t).toMatchObject({ host: 'db.internal.example.com', port: 22, user: 'ubuntu', jumps: [] });
  });

  it('works without a config file', () => {
    const t = resolveSshTarget('1.2.3.4', {}, { ...opts, configPath: path.join(dir, 'missing') });
    expect(t).toMatchObject({ host: '1.2.3.4', port: 22, user: 'me', identityFiles: [] });
  });

  it('parses jump specs', () => {
    expect(parseJump('bastion')).toEqual({ host: 'bastion' });
    expect(parseJump('ssh://u@[::1]:2022')).toEqual({ host: '::1', port: 2022, user: 'u' });
    expect(expandTokens('~/k_%u_%%', {}, { homeDir: '/h', localUser: 'me' })).toBe('/h/k_me_%');
  });
});

describe('small helpers', () => {
  it('strips exactly one final newline, like execa', () => {
    expect(stripFinalNewline('a\n\n')).toBe('a\n');
    expect(stripFinalNewline('a\r\n')).toBe('a');
    expect(stripFinalNewline('a')).toBe('a');
  });

  it('caps concurrency and hands slots over in order', async () => {
    const sem = new Semaphore(2);
    const order: number[] = [];
    const r1 = (await sem.acquire())!;
    const r2 = (await sem.acquire())!;
    const p3 = sem.acquire().then((r) => (order.push(3), r));
    const abort = new AbortController();
    const p4 = sem.acquire(abort.signal);
    const p5 = sem.acquire().then((r) => (order.push(5), r));
    expect(sem.queued).toBe(3);
    abort.abort();
    expect(await p4).toBeUndefined();
    r1();
    r1(); // double release is harmless
    const r3 = await p3;
    expect(sem.inUse).toBe(2);
    r2();
    await p5;
    expect(order).toEqual([3, 5]);
    r3!();
  });
});
