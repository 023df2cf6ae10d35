// ssh -G output parsing, tokens, and inventory values passed to `ssh -G` as data (a host name
// that starts with `-`, holds spaces, quotes or `$(...)` is never an option or a command).
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { makeHostKeyCheck } from '../../src/transport/ssh/host-key-policy.js';
import { expandTokens, parseSshG, resolveSshTarget, SshConfigError } from '../../src/transport/ssh/ssh-config.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'bg-ssh-g-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ssh -G', () => {
  it('parses lowercase key value lines; identityfile and certificatefile repeat', () => {
    const s = parseSshG('user deploy\nhostname 10.1.2.3\nport 2222\nidentityfile ~/.ssh/a\nidentityfile %d/.ssh/b\ncertificatefile ~/.ssh/a-cert.pub\nuserknownhostsfile /x /y\n');
    expect(s).toEqual({
      user: 'deploy',
      hostname: '10.1.2.3',
      port: '2222',
      identityfile: ['~/.ssh/a', '%d/.ssh/b'],
      certificatefile: '~/.ssh/a-cert.pub',
      userknownhostsfile: '/x /y',
    });
  });

  it('expands the tokens bg knows and leaves the others', () => {
    const opts = { homeDir: '/h', localUser: 'me' };
    expect(expandTokens('%d/%u/%h/%r/%p/%n/%%/%i', { h: 'host', r: 'root', p: '22', n: 'alias' }, opts)).toBe(`/h/me/host/root/22/alias/%/${process.getuid?.()}`);
    expect(expandTokens('%L', {}, opts)).toBe(os.hostname().split('.')[0]);
    expect(expandTokens('%C', {}, opts)).toBe('%C');
  });

  it('resolves an Include and Match the way ssh does, with inventory port/user winning', () => {
    const inc = path.join(dir, 'inc.conf');
    writeFileSync(inc, 'Host prod\n  HostName 10.1.2.3\n  Port 2222\n  User deploy\n  IdentitiesOnly yes\n  IdentityFile %d/.ssh/prod\n');
    const config = path.join(dir, 'config');
    writeFileSync(config, `Include ${inc}\nMatch originalhost prod\n  IdentityAgent none\n  CertificateFile /c/prod-cert.pub\n`);
    const t = resolveSshTarget('prod', {}, { configPath: config, homeDir: '/home/me', localUser: 'me' });
    expect(t).toMatchObject({
      source: 'ssh -G',
      host: '10.1.2.3',
      port: 2222,
      user: 'deploy',
      identitiesOnly: true,
      identityAgent: null,
      identityFiles: ['/home/me/.ssh/prod'],
      certificateFiles: ['/c/prod-cert.pub'],
    });
    expect(resolveSshTarget('prod', { port: 22, user: 'ops' }, { configPath: config, homeDir: '/home/me', localUser: 'me' })).toMatchObject({ port: 22, user: 'ops' });
  });

  it('any host name reaches ssh -G as data: an error or a target for that very name, never a command run', () => {
    const config = path.join(dir, 'empty.conf');
    writeFileSync(config, '');
    const flag = path.join(dir, 'RAN');
    const names = fc.oneof(
      fc.string({ minLength: 1, maxLength: 20 }),
      fc.constantFrom(`-oProxyCommand=touch ${flag}`, `$(touch ${flag})`, `\`touch ${flag}\``, `a;touch ${flag}`, '-G', '--', `-F${flag}`, 'a b', "'", '%d', 'x%h', 'root@evil', 'ssh://evil:2222'),
    );
    fc.assert(
      fc.property(names, (name) => {
        try {
          const t = resolveSshTarget(name, {}, { configPath: config, homeDir: '/home/me', localUser: 'me' });
          expect(t.alias).toBe(name);
          // ssh lowercases; no token is expanded (numeric forms like `0` ssh may canonicalise).
          if (/^[A-Za-z][\w.%-]*$/.test(name)) expect(t.host.toLowerCase()).toBe(name.toLowerCase());
        } catch (err) {
          expect(err).toBeInstanceOf(SshConfigError);
        }
        expect(existsSync(flag)).toBe(false);
      }),
      { numRuns: 40 },
    );
  });

  it('the commands a host key refusal suggests quote the host and the known_hosts path (sh reads them back as one word each)', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 12 }).filter((v) => !v.includes('\0')), fc.string({ minLength: 1, maxLength: 12 }).filter((v) => !v.includes('\0') && !v.includes('/')), (host, file) => {
        const knownHostsFile = path.join(dir, file);
        const check = makeHostKeyCheck({ knownHostsFile, extraKnownHostsFiles: [], acceptNew: false, isDefaultFile: false }, host, 22);
        expect(check.verify(Buffer.from('000000077373682d727361', 'hex'))).toBe(false);
        const hint = /`(ssh-keyscan .*)`$/.exec(check.refusal()!)![1]!;
        // Parse the suggested command with sh itself: the host and the file arrive intact.
        const words = execFileSync('sh', ['-c', `set -- ${hint.slice(0, hint.lastIndexOf(' >> '))} ${hint.slice(hint.lastIndexOf(' >> ') + 4)}; printf '%s\\0' "$@"`], { encoding: 'utf8' }).split('\0').slice(0, -1);
        expect(words.slice(-2)).toEqual([host, knownHostsFile]);
      }),
      { numRuns: 25 },
    );
  }, 30_000); // 25 sh processes: slow on a loaded machine
});
