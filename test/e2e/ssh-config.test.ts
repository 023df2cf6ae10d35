// ~/.ssh/config as `ssh` reads it (issue 11, item 4): a host defined only in an Include'd file,
// Match, IdentitiesOnly with many keys in a real ssh-agent against an sshd with a low
// MaxAuthTries, IdentityAgent, UserKnownHostsFile, CertificateFile; all through the built CLI.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bg } from '../harness/cli.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { startSshd, type SshdHandle } from '../harness/sshd.js';
import { envsYaml } from './targets.js';

const WRONG_KEYS = 6;
/** A read-only one-step run: connecting is what these tests are about. */
const WHOAMI = ['run', 'whoami.yaml'];

describe('~/.ssh/config through ssh -G', () => {
  let sshd: SshdHandle;
  let sb: Sandbox;
  let home: string;
  let agent: ChildProcess | undefined;
  let agentSock: string;
  let pubOnlyHome: string;

  /** bg with a temporary HOME, its ~/.ssh/config and nothing of this machine's ssh setup. */
  const run = (args: string[], env: Record<string, string> = {}) =>
    bg(args, { cwd: sb.root, env: { HOME: home, SSH_AUTH_SOCK: agentSock, BG_SSH_CONFIG: '', BG_KNOWN_HOSTS: '', ...env } });

  beforeAll(async () => {
    sshd = await startSshd({ extraConfig: ['MaxAuthTries 3'] });
    sb = makeSandbox('bg-ssh-config-');
    home = join(sb.root, 'home');
    const ssh = join(home, '.ssh');
    mkdirSync(join(ssh, 'conf.d'), { recursive: true, mode: 0o700 });

    // A real agent holding six keys the server does not know, and the right one last.
    agentSock = join(sb.root, 'agent.sock');
    agent = spawn('ssh-agent', ['-D', '-a', agentSock], { stdio: 'ignore' });
    for (let i = 0; i < 50 && !existsSync(agentSock); i++) await new Promise((r) => setTimeout(r, 50));
    const addEnv = { ...process.env, SSH_AUTH_SOCK: agentSock };
    for (let i = 0; i < WRONG_KEYS; i++) {
      const k = join(sb.root, `wrong_${i}`);
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', k]);
      execFileSync('ssh-add', ['-q', k], { env: addEnv, stdio: 'ignore' });
    }
    execFileSync('ssh-add', ['-q', sshd.clientKeyPath], { env: addEnv, stdio: 'ignore' });
    const listed = execFileSync('ssh-add', ['-l'], { env: addEnv, encoding: 'utf8' }).trim().split('\n');
    expect(listed).toHaveLength(WRONG_KEYS + 1);

    // The right key as a file (`%d/.ssh/deploy_%r`: tokens bg expands), and in another place
    // only its public half (the private key lives in the agent alone).
    copyFileSync(sshd.clientKeyPath, join(ssh, `deploy_${sshd.user}`));
    pubOnlyHome = join(sb.root, 'pub-only');
    mkdirSync(pubOnlyHome, { recursive: true });
    copyFileSync(`${sshd.clientKeyPath}.pub`, join(pubOnlyHome, 'deploy.pub'));

    // The host key is known only in the file UserKnownHostsFile names.
    const knownHosts = join(sb.root, 'known', 'prod');
    mkdirSync(join(sb.root, 'known'));
    writeFileSync(knownHosts, sshd.knownHostsLine + '\n');

    // Hosts defined only in the Include'd file: non-default port and user.
    writeFileSync(
      join(ssh, 'conf.d', 'prod.conf'),
      [
        'Host prod prod-all-agent-keys prod-agent-only prod-cert',
        '  HostName 127.0.0.1',
        `  Port ${sshd.port}`,
        `  User ${sshd.user}`,
        `  UserKnownHostsFile ${knownHosts}`,
        'Host prod',
        '  IdentitiesOnly yes',
        '  IdentityFile %d/.ssh/deploy_%r',
        'Host prod-agent-only',
        '  IdentitiesOnly yes',
        `  IdentityFile ${join(pubOnlyHome, 'deploy')}`,
        `  IdentityAgent ${agentSock}`,
        'Host prod-cert',
        '  IdentitiesOnly yes',
        `  IdentityFile ${join(sb.root, 'wrong_0')}`,
        `  CertificateFile ${join(sb.root, 'wrong_0-cert.pub')}`,
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(ssh, 'config'),
      [
        `Include ${join(ssh, 'conf.d')}/*.conf`,
        // Match on the name as written: settings that exist for this alias only.
        'Match originalhost matched',
        '  HostName 127.0.0.1',
        `  Port ${sshd.port}`,
        `  User ${sshd.user}`,
        `  UserKnownHostsFile ${knownHosts}`,
        '  IdentitiesOnly yes',
        `  IdentityFile ${join(ssh, `deploy_${sshd.user}`)}`,
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(sb.root, 'whoami.yaml'),
      'name: whoami\nsteps:\n  - name: Who am I\n    action: shell\n    env: blue\n    with: { command: "id -un", mutates: false }\n',
    );
    const hostBlock = (name: string) => `  ${name}:\n    ssh: { host: ${name} }\n${envsYaml(sb, 'http://127.0.0.1:1/')}`;
    writeFileSync(
      join(sb.root, 'hosts.yaml'),
      `hosts:\n${['prod', 'prod-all-agent-keys', 'prod-agent-only', 'prod-cert', 'matched'].map(hostBlock).join('')}`,
    );
  }, 60_000);

  afterAll(async () => {
    agent?.kill();
    await sshd?.stop();
    sb?.remove();
  });

  it('a host defined only in an Included file connects with the port, user, key and known_hosts ssh -G reports', async () => {
    const expected = execFileSync('ssh', ['-G', '-F', join(home, '.ssh', 'config'), 'prod'], { encoding: 'utf8' });
    expect(expected).toContain(`port ${sshd.port}`);
    const r = await run([...WHOAMI, '--host', 'prod'], { BG_DEBUG: '1' });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain(`settings for prod from \`ssh -G prod\`: ${sshd.user}@127.0.0.1:${sshd.port}`);
    expect(r.stderr).toContain('IdentitiesOnly yes');
    expect(r.stderr).toContain(`known_hosts ${join(sb.root, 'known', 'prod')}`);
    // The agent's seven keys were not offered: only the identity file.
    expect(r.stderr).toMatch(/offers: key file [^;]*deploy_/);
    expect(r.stderr).not.toMatch(/offers:[^\n]*agent/);
  });

  it('Match originalhost applies to the alias', async () => {
    const r = await run([...WHOAMI, '--host', 'matched']);
    expect(r.exitCode, r.stderr).toBe(0);
  });

  it('without IdentitiesOnly every agent key is offered and the server hangs up (MaxAuthTries 3): the reason is said', async () => {
    const r = await run([...WHOAMI, '--host', 'prod-all-agent-keys']);
    expect(r.exitCode).toBe(5);
    expect(r.stderr).toMatch(/too many attempts \(its MaxAuthTries\).*IdentitiesOnly yes/);
  });

  it('IdentitiesOnly with the private key only in the agent (IdentityAgent): just that agent key is offered', async () => {
    const r = await run([...WHOAMI, '--host', 'prod-agent-only'], { SSH_AUTH_SOCK: '', BG_DEBUG: '1' });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/IdentityAgent [^;]*agent\.sock/);
    expect(r.stderr).toMatch(/offers: agent [^;]*only SHA256:/);
  });

  it('IdentityAgent none: the agent is not used', async () => {
    const config = join(sb.root, 'agent-none.config');
    // First match wins in ssh config: put the override before the Include.
    writeFileSync(config, `Host prod-agent-only\n  IdentityAgent none\nInclude ${join(home, '.ssh', 'config')}\n`);
    const r = await run([...WHOAMI, '--host', 'prod-agent-only'], { BG_SSH_CONFIG: config });
    expect(r.exitCode).toBe(5);
    expect(r.stderr).toMatch(/no credential to offer|authentication failed/);
  });

  it('a configured CertificateFile is named when authentication fails: bg cannot offer certificates', async () => {
    const r = await run([...WHOAMI, '--host', 'prod-cert']);
    expect(r.exitCode).toBe(5);
    expect(r.stderr).toContain('cannot offer OpenSSH certificates');
  });

  it('without an OpenSSH client the ssh-config library is the fallback (no Include: the alias is not found)', async () => {
    const r = await run([...WHOAMI, '--host', 'matched'], { BG_SSH_CLIENT: join(sb.root, 'no-ssh-here'), BG_DEBUG: '1' });
    expect(r.stderr).toContain('ssh config (ssh-config library; no Include)');
    expect(r.exitCode).toBe(0); // Match originalhost is something the library does read
    const inc = await run([...WHOAMI, '--host', 'prod'], { BG_SSH_CLIENT: join(sb.root, 'no-ssh-here') });
    expect(inc.exitCode).toBe(5);
  });

  it('an alias that looks like an option is refused by ssh -G, never run as one', async () => {
    writeFileSync(join(sb.root, 'evil.yaml'), `hosts:\n  evil:\n    ssh: { host: "-oProxyCommand=touch ${join(sb.root, 'PWNED')}" }\n${envsYaml(sb, 'http://127.0.0.1:1/')}`);
    const r = await run([...WHOAMI, '--host', 'evil', '--inventory', join(sb.root, 'evil.yaml')]);
    expect([2, 5], r.stderr).toContain(r.exitCode);
    expect(r.stderr).toMatch(/invalid characters|not a valid|must not start/);
    expect(existsSync(join(sb.root, 'PWNED'))).toBe(false);
  });
});
