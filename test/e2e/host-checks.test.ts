// Host checks users expect (issue 11 item 7), through the built CLI on this machine and over a
// real sshd: the host's sqlite3 version against what each step needs (the real sqlite3, and a
// stand-in older one on the host's `path:`), and two inventory hosts that are one machine and
// journal refused before connecting.
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bg } from '../harness/cli.js';
import { checksumTree, makeSandbox, rowCounts, type Sandbox } from '../harness/sandbox.js';
import { sshClientEnv, startSshd, type SshdHandle } from '../harness/sshd.js';
import { targets } from './all-targets.js';
import { envsYaml } from './targets.js';

const PLAYBOOK = `name: host-checks
steps:
  - name: Mark the release
    action: shell
    env: blue
    with: { command: "echo v2 > RELEASE", verify: "grep -qx v2 RELEASE", undo: "rm -f RELEASE" }
  - name: Back up both databases
    action: backup
    envs: [blue, green]
  - name: Same schema
    action: schema-check
`;

/** A stand-in sqlite3 that claims an old version for --version and is the real one otherwise. */
function fakeSqlite(dir: string, version: string): string {
  const bin = join(dir, `sqlite-${version}`);
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'sqlite3'), `#!/bin/sh\nif [ "$1" = --version ]; then echo '${version} 2018-01-22 18:45:57 0c55d179733b46d8d0ba4d88e01a25e10677046ee3da1d5b1581e86726f2alt1'; exit 0; fi\nexec /usr/bin/sqlite3 "$@"\n`);
  chmodSync(bin, 0o755);
  chmodSync(join(bin, 'sqlite3'), 0o755);
  return bin;
}

describe.each(targets())('sqlite3 version pre-flight on the $name host', (target) => {
  let sb: Sandbox;
  let env: Record<string, string>;
  const run = (args: string[]) => bg(args, { cwd: sb.root, env });
  const envState = () => checksumTree(join(sb.root, 'TimeTracking-BLUE')) + checksumTree(join(sb.root, 'TimeTracking-GREEN'));

  beforeAll(async () => {
    await target.setup();
    sb = makeSandbox('bg-host-checks-');
    const old = fakeSqlite(sb.root, '3.22.0');
    const ancient = fakeSqlite(sb.root, '3.10.2');
    const body = envsYaml(sb, 'http://127.0.0.1:1/');
    writeFileSync(
      join(sb.root, 'hosts.yaml'),
      `hosts:\n${target.hostYaml('box', body)}${target.hostYaml('old', `    path: [${old}]\n${body}`)}${target.hostYaml('ancient', `    path: [${ancient}]\n${body}`)}`,
    );
    writeFileSync(join(sb.root, 'pb.yaml'), PLAYBOOK);
    env = target.env();
  });
  afterAll(async () => {
    await target.teardown();
    sb.remove();
  });

  it("the real sqlite3 passes: plan --check shows its version, and the run completes", async () => {
    const check = await run(['plan', 'pb.yaml', '--host', 'box', '--check']);
    expect(check.exitCode, check.stderr).toBe(0);
    expect(check.stdout).toMatch(/✔ sqlite3 is new enough for every step that uses it \(≥ 3\.27 for VACUUM INTO\) \(sqlite3 3\.\d+\.\d+ \(\/\S*sqlite3\)\)/);
    const r = await run(['run', 'pb.yaml', '--host', 'box']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(existsSync(join(sb.blue.dir, 'RELEASE'))).toBe(true);
  });

  it('an older sqlite3 on the host PATH: plan --check and run exit 1 naming the step and feature; nothing changes', async () => {
    const before = envState();
    const counts = rowCounts(sb.blue.db);
    const check = await run(['plan', 'pb.yaml', '--host', 'old', '--check']);
    expect(check.exitCode).toBe(1);
    const bin = join(sb.root, 'sqlite-3.22.0', 'sqlite3');
    const line = (n: number, env: string) => `step ${n} (Back up both databases (${env})) needs sqlite3 ≥ 3.27 for VACUUM INTO; the host has 3.22.0 (${bin})`;
    expect(check.stderr).toContain(line(2, 'blue'));
    expect(check.stderr).toContain(line(3, 'green'));
    expect(check.stderr).not.toContain('step 4'); // schema-check needs 3.16: 3.22 is enough
    expect(check.stdout).toContain('✖ sqlite3 is new enough for every step that uses it');

    const r = await run(['run', 'pb.yaml', '--host', 'old']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('nothing was changed');
    expect(r.stderr).toContain(line(2, 'blue'));
    expect(envState()).toBe(before);
    expect(rowCounts(sb.blue.db)).toEqual(counts);

    // bg status shows the sqlite3 that reads each env's database.
    const status = await run(['status', '--host', 'old']);
    expect(status.exitCode, status.stderr).toBe(0);
    expect(status.stdout).toContain(`sqlite3 3.22.0 (${bin})`);
  });

  it('a much older sqlite3 fails every step that uses it, each with its newest need', async () => {
    const r = await run(['run', 'pb.yaml', '--host', 'ancient']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('step 2 (Back up both databases (blue)) needs sqlite3 ≥ 3.27 for VACUUM INTO; the host has 3.10.2');
    expect(r.stderr).toContain('step 4 (Same schema) needs sqlite3 ≥ 3.16 for PRAGMA table-valued functions');
  });
});

describe('two inventory hosts that are one machine and journal', () => {
  let sb: Sandbox;
  let sshd: SshdHandle;
  let env: Record<string, string>;
  const run = (args: string[], extra: Record<string, string> = {}) => bg(args, { cwd: sb.root, env: { ...env, ...extra } });
  const PB = `name: mark\nsteps:\n  - { name: Mark, action: shell, env: blue, with: { command: "true" } }\n`;

  beforeAll(async () => {
    sshd = await startSshd();
    sb = makeSandbox('bg-same-machine-');
    env = sshClientEnv(sshd.knownHostsPath);
    writeFileSync(join(sb.root, 'pb.yaml'), PB);
    const envs = `    envs: { blue: { dir: ${sb.blue.dir} } }\n`;
    // Not the local hosts' journal: that one belongs to root once a local run made it.
    const sshHost = (name: string, fields: string, journal = `${sb.root}/journal-s`) =>
      `  ${name}:\n    ssh: { ${fields}, key: ${sshd.clientKeyPath} }\n${envs}    journal: ${journal}\n`;
    const where = `host: 127.0.0.1, port: ${sshd.port}, user: ${sshd.user}`;
    writeFileSync(
      join(sb.root, 'hosts.yaml'),
      'hosts:\n' +
        `  la:\n    local: true\n${envs}    journal: ${sb.root}/journal\n` +
        `  lb:\n    local: true\n${envs}    journal: ${sb.root}/journal/\n` +
        `  lc:\n    local: true\n${envs}    journal: ${sb.root}/journal-c\n` +
        sshHost('sa', where) +
        sshHost('sb', where) +
        sshHost('sc', where, `${sb.root}/journal-sc`) +
        sshHost('alias', `host: testbox`) +
        'groups:\n  both: [la, lb]\n',
    );
    // An ssh config alias for the same sshd: `ssh -G testbox` resolves it to the same address.
    writeFileSync(join(sb.root, 'ssh_config'), `Host testbox\n  HostName 127.0.0.1\n  Port ${sshd.port}\n  User ${sshd.user}\n`);
  });
  afterAll(async () => {
    await sshd.stop();
    sb.remove();
  });

  it('two local hosts with the same journal: exit 2 before anything runs, naming both', async () => {
    for (const args of [
      ['run', 'pb.yaml', '--host', 'la,lb'],
      ['plan', 'pb.yaml', '--host', 'both', '--check'],
    ]) {
      const r = await run(args);
      expect(r.exitCode, r.stderr).toBe(2);
      expect(r.stderr).toContain(`hosts la and lb are the same machine and journal (this machine, ${sb.root}/journal): name one of them`);
      expect(r.stderr).not.toMatch(/locked/);
    }
    expect(existsSync(join(sb.root, 'journal'))).toBe(false);
  });

  it('two ssh hosts on the same sshd with one journal: exit 2 naming user@address:port and the journal', async () => {
    const r = await run(['run', 'pb.yaml', '--host', 'sa,sb']);
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toContain(`hosts sa and sb are the same machine and journal (${sshd.user}@127.0.0.1:${sshd.port}, ${sb.root}/journal-s): name one of them`);
    expect(existsSync(join(sb.root, 'journal-s'))).toBe(false);
  });

  it('an ssh config alias resolving (ssh -G) to the same address counts as the same machine', async () => {
    const r = await run(['plan', 'pb.yaml', '--host', 'alias,sa'], { BG_SSH_CONFIG: join(sb.root, 'ssh_config') });
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toContain(`hosts alias and sa are the same machine and journal (${sshd.user}@127.0.0.1:${sshd.port}`);
  });

  it('the same machine with different journals runs: locally and over ssh', async () => {
    const local = await run(['run', 'pb.yaml', '--host', 'la,lc']);
    expect(local.exitCode, local.stderr).toBe(0);
    const ssh = await run(['run', 'pb.yaml', '--host', 'sa,sc']);
    expect(ssh.exitCode, ssh.stderr).toBe(0);
    expect(ssh.stdout).toContain(`✔ sa (${sshd.user}@127.0.0.1:${sshd.port})`);
    expect(ssh.stdout).toContain(`✔ sc (${sshd.user}@127.0.0.1:${sshd.port})`);
  });
});
