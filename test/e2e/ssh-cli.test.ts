import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bg } from '../harness/cli.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { sshClientEnv, startSshd, type SshdHandle } from '../harness/sshd.js';
import { envsYaml } from './targets.js';

const fixture = (name: string) => new URL(`../fixtures/playbooks/${name}.yaml`, import.meta.url).pathname;

// Three real sshd instances on different ports stand in for three servers.
describe('bg over SSH: many hosts, connection problems', () => {
  const names = ['alpha', 'beta', 'gamma'] as const;
  const sshd: Record<string, SshdHandle> = {};
  const sb: Record<string, Sandbox> = {};
  let dir: Sandbox;
  let env: Record<string, string>;

  const hostBlock = (name: string, s: SshdHandle, extra = '') =>
    `  ${name}:\n    ssh: { host: 127.0.0.1, port: ${s.port}, user: ${s.user}, key: ${s.clientKeyPath}${extra} }\n${envsYaml(sb[name] ?? dir, 'http://127.0.0.1:1/')}`;
  const run = (args: string[], extraEnv: Record<string, string> = {}) => bg(args, { cwd: dir.root, env: { ...env, ...extraEnv } });
  const marked = (name: string) => existsSync(join(sb[name]!.blue.dir, 'HOST_MARK'));

  beforeAll(async () => {
    dir = makeSandbox('bg-ssh-cli-');
    for (const n of names) {
      sshd[n] = await startSshd();
      sb[n] = makeSandbox(`bg-ssh-${n}-`);
    }
    // One known_hosts file that knows all three.
    const knownHosts = join(dir.root, 'known_hosts');
    writeFileSync(knownHosts, names.map((n) => sshd[n]!.knownHostsLine).join('\n') + '\n');
    env = sshClientEnv(knownHosts);
    writeFileSync(
      join(dir.root, 'hosts.yaml'),
      `hosts:\n${names.map((n) => hostBlock(n, sshd[n]!)).join('')}groups:\n  fleet: [alpha, beta, gamma]\n`,
    );
  });
  afterAll(async () => {
    await Promise.all(Object.values(sshd).map((s) => s.stop()));
    for (const s of [...Object.values(sb), dir]) s.remove();
  });

  it('runs a group of hosts in parallel', async () => {
    const r = await run(['run', fixture('e2e-per-host'), '--host', 'fleet']);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    for (const n of names) {
      expect(readFileSync(join(sb[n]!.blue.dir, 'HOST_MARK'), 'utf8')).toBe(`${n}\n`);
      expect(r.stdout).toContain(`✔ ${n}: 2 steps done`);
    }
  });

  it('--serial 1 stops the batches after a failure and says which hosts ran what', async () => {
    for (const n of names) writeFileSync(join(sb[n]!.blue.dir, 'HOST_MARK'), 'old\n');
    const r = await run(['run', fixture('e2e-per-host'), '--host', 'alpha,beta,gamma', '--serial', '1', '--var', 'fail_on=beta']);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain('✔ alpha: 2 steps done');
    expect(r.stderr).toContain('"Check the host" failed on beta');
    expect(r.stderr).toContain('beta: rolled back');
    expect(r.stderr).toContain('- gamma: not started: the run on beta failed; nothing was changed there');
    expect(readFileSync(join(sb.alpha!.blue.dir, 'HOST_MARK'), 'utf8')).toBe('alpha\n');
    expect(marked('beta')).toBe(false); // undone
    expect(readFileSync(join(sb.gamma!.blue.dir, 'HOST_MARK'), 'utf8')).toBe('old\n');
  });

  it('a closed port exits 5 naming the host, and no host is touched', async () => {
    const closed = await startSshd();
    const port = closed.port;
    await closed.stop();
    writeFileSync(join(dir.root, 'down.yaml'), `hosts:\n${hostBlock('alpha', sshd.alpha!)}  down:\n    ssh: { host: 127.0.0.1, port: ${port}, user: bgtest, key: ${sshd.alpha!.clientKeyPath} }\n${envsYaml(dir, 'http://127.0.0.1:1/')}`);
    const before = sb.alpha!.checksum();
    const r = await run(['run', fixture('e2e-per-host'), '--host', 'alpha,down', '-i', 'down.yaml']);
    expect(r.exitCode).toBe(5);
    expect(r.stderr).toMatch(/cannot connect to down: .*refused/i);
    expect(r.stderr).toContain('nothing was changed on any host');
    expect(sb.alpha!.checksum()).toBe(before);
  });

  it('an unknown host key is refused with its fingerprint; --accept-new-host-key records it', async () => {
    const kh = join(dir.root, 'empty_known_hosts');
    writeFileSync(kh, '');
    const r = await run(['run', fixture('e2e-per-host'), '--host', 'alpha'], { BG_KNOWN_HOSTS: kh });
    expect(r.exitCode).toBe(5);
    expect(r.stderr).toContain(sshd.alpha!.hostKeyFingerprint);
    expect(r.stderr).toContain('--accept-new-host-key');
    const ok = await run(['run', fixture('e2e-per-host'), '--host', 'alpha', '--accept-new-host-key'], { BG_KNOWN_HOSTS: kh });
    expect(ok.exitCode).toBe(0);
    expect(readFileSync(kh, 'utf8')).toContain(`[127.0.0.1]:${sshd.alpha!.port}`);
    expect((await run(['run', fixture('e2e-per-host'), '--host', 'alpha'], { BG_KNOWN_HOSTS: kh })).exitCode).toBe(0);
  });

  it('a changed host key is refused, even with --accept-new-host-key', async () => {
    await sshd.gamma!.regenerateHostKey();
    const before = sb.gamma!.checksum();
    const r = await run(['run', fixture('e2e-per-host'), '--host', 'gamma', '--accept-new-host-key']);
    expect(r.exitCode).toBe(5);
    expect(r.stderr).toMatch(/host key CHANGED/i);
    expect(sb.gamma!.checksum()).toBe(before);
  });

  it('a wrong client key exits 5 with the key named', async () => {
    const other = await startSshd();
    writeFileSync(join(dir.root, 'wrongkey.yaml'), `hosts:\n${hostBlock('alpha', sshd.alpha!).replace(sshd.alpha!.clientKeyPath, other.clientKeyPath)}`);
    const r = await run(['run', fixture('e2e-per-host'), '--host', 'alpha', '-i', 'wrongkey.yaml']);
    await other.stop();
    expect(r.exitCode).toBe(5);
    expect(r.stderr).toMatch(/authentication failed|auth/i);
    expect(r.stderr).toContain(other.clientKeyPath);
  });

  it('BG_SSH_KEY authenticates without a key file (CI)', async () => {
    writeFileSync(join(dir.root, 'envkey.yaml'), `hosts:\n${hostBlock('alpha', sshd.alpha!).replace(`, key: ${sshd.alpha!.clientKeyPath}`, '')}`);
    const r = await run(['run', fixture('e2e-per-host'), '--host', 'alpha', '-i', 'envkey.yaml'], { BG_SSH_KEY: sshd.alpha!.clientKeyText });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
  });
});
