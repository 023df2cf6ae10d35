// Adversarial: hangs and bounded waits. Nothing bg sends to a host may wait forever: read-only
// pm2 probes with no daemon for PM2_HOME (defect 15, also with a mistyped PM2_HOME), a step that
// never ends, a host that accepts TCP but never speaks SSH, and a read-only command interrupted
// while its probe hangs. Real pm2 (the example app's), real sshd, the built CLI.
import { execa } from 'execa';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bg, BG } from '../harness/cli.js';
import { findExampleApp } from '../harness/pm2.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { envsYaml, localTarget, sshTarget, type Target } from '../e2e/targets.js';

const PM2_BIN_DIR = join(findExampleApp(), 'node_modules', '.bin');

// A pm2 step on each env: its pre-flight asks pm2 whether it knows the app (bg plan --check).
const PM2_PLAYBOOK = `name: restarts
steps:
  - name: Restart GREEN
    action: pm2
    env: green
    with: { op: restart }
  - name: Restart BLUE
    action: pm2
    env: blue
    with: { op: restart }
`;

/** A host block whose envs have pm2 apps, with PM2_HOME and pm2 on PATH set for every command. */
function pm2Host(target: Target, sb: Sandbox, pm2Home: string, extraPath = PM2_BIN_DIR): string {
  return `hosts:\n${target.hostYaml(
    'box',
    `    path: [${extraPath}]
    environment: { PM2_HOME: ${pm2Home} }
    envs:
      blue: { dir: ${sb.blue.dir}, app: hang-blue, db: database.db }
      green: { dir: ${sb.green.dir}, app: hang-green, db: database.db }
    journal: ${sb.root}/journal
`,
  )}`;
}

/** pm2 God daemons whose command line names `home`. */
function daemonsFor(home: string): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const cmd = (() => {
      try {
        return readFileSync(`/proc/${d}/cmdline`, 'utf8');
      } catch {
        return '';
      }
    })();
    if (cmd.includes('God Daemon') && cmd.includes(home)) pids.push(Number(d));
  }
  return pids;
}

describe.each([{ target: localTarget as Target }, { target: sshTarget() as Target }])('15: pm2 probes without a daemon, on $target.name', ({ target }) => {
  let sb: Sandbox;
  beforeAll(async () => {
    await target.setup();
    sb = makeSandbox(`bg-hang-${target.name}-`);
    writeFileSync(join(sb.root, 'restarts.yaml'), PM2_PLAYBOOK);
  });
  afterAll(async () => {
    sb?.remove();
    await target.teardown();
  });

  for (const kind of ['empty', 'mistyped'] as const) {
    it(`bg plan --check and bg status answer at once with a ${kind} PM2_HOME, and start no daemon`, async () => {
      const pm2Home = join(sb.root, kind === 'empty' ? 'pm2-empty' : 'pm2-tpyo');
      if (kind === 'empty') {
        mkdirSync(pm2Home, { recursive: true });
        chmodSync(pm2Home, 0o777);
      }
      writeFileSync(join(sb.root, 'hosts.yaml'), pm2Host(target, sb, pm2Home));
      const t0 = Date.now();
      const check = await bg(['plan', join(sb.root, 'restarts.yaml'), '--host', 'box', '--check'], { cwd: sb.root, env: target.env(), timeoutMs: 30_000 });
      expect(check.exitCode, check.stderr).toBe(1);
      expect(check.stderr).toContain(`pm2 daemon not running for PM2_HOME=${pm2Home}`);
      const status = await bg(['status', '--host', 'box'], { cwd: sb.root, env: target.env(), timeoutMs: 30_000 });
      expect(status.exitCode, status.stderr).toBe(0);
      expect(status.stdout).toContain('pm2 daemon not running');
      expect(Date.now() - t0).toBeLessThan(20_000);
      // No daemon was started, so nothing is left running and a mistyped home is not created.
      expect(daemonsFor(pm2Home)).toEqual([]);
      expect(existsSync(join(pm2Home, 'pm2.pid'))).toBe(false);
      if (kind === 'mistyped') expect(existsSync(pm2Home)).toBe(false);
    });
  }
});

describe('15: pm2 probes with a real daemon (no apps), many at once', () => {
  let sb: Sandbox;
  let pm2Home: string;
  beforeAll(async () => {
    sb = makeSandbox('bg-hang-pm2-');
    pm2Home = join(sb.root, '.pm2');
    writeFileSync(join(sb.root, 'restarts.yaml'), PM2_PLAYBOOK);
    writeFileSync(join(sb.root, 'hosts.yaml'), pm2Host(localTarget, sb, pm2Home));
    await execa(join(PM2_BIN_DIR, 'pm2'), ['ping'], { env: { PM2_HOME: pm2Home }, timeout: 30_000 });
  });
  afterAll(async () => {
    if (existsSync(join(pm2Home, 'pm2.pid'))) await execa(join(PM2_BIN_DIR, 'pm2'), ['kill'], { env: { PM2_HOME: pm2Home }, reject: false, timeout: 30_000 });
    sb?.remove();
  });

  it('every probe answers: the apps are unknown, and exactly one daemon still runs', async () => {
    const daemons = daemonsFor(pm2Home);
    expect(daemons).toHaveLength(1);
    const [check, status] = await Promise.all([
      bg(['plan', join(sb.root, 'restarts.yaml'), '--host', 'box', '--check'], { cwd: sb.root, timeoutMs: 30_000 }),
      bg(['status', '--host', 'box'], { cwd: sb.root, timeoutMs: 30_000 }),
    ]);
    expect(check.exitCode, check.stderr).toBe(1);
    expect(check.stderr).toContain('pm2 knows no app named hang-green');
    expect(check.stderr).toContain('pm2 knows no app named hang-blue');
    expect(status.exitCode, status.stderr).toBe(0);
    expect(status.stdout).toContain('app hang-blue: not known to pm2');
    expect(daemonsFor(pm2Home)).toEqual(daemons);
  });
});

describe('bounded waits', () => {
  const ssh = sshTarget();
  let sb: Sandbox;
  const STUCK = `name: stuck
steps:
  - name: Mark BLUE
    action: shell
    env: blue
    with:
      command: echo x > MARK
      undo: rm -f MARK
  - name: Never ends
    action: shell
    env: green
    with:
      command: echo $$ > stuck.pid && sleep 300
      undo: "true"
`;
  beforeAll(async () => {
    await ssh.setup();
    sb = makeSandbox('bg-bound-');
    writeFileSync(join(sb.root, 'stuck.yaml'), STUCK);
  });
  afterAll(async () => {
    sb?.remove();
    await ssh.teardown();
  });

  const alive = (pid: number) => {
    try {
      return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };

  for (const t of [
    { target: localTarget as Target, how: 'BG_COMMAND_TIMEOUT', env: { BG_COMMAND_TIMEOUT: '2' }, hostExtra: '' },
    { target: ssh as Target, how: "the host's ssh.command_timeout", env: {}, hostExtra: 'command_timeout' },
  ]) {
    it(`a command that never ends is stopped at its bound (${t.how}, ${t.target.name}), named in the message, and rolled back`, async () => {
      let hosts = `hosts:\n${t.target.hostYaml('box', envsYaml(sb, 'http://127.0.0.1:1/'))}`;
      // Its own journal: the ssh login user cannot write into one the local run (root) created.
      if (t.hostExtra) hosts = hosts.replace(/ssh: \{ /, 'ssh: { command_timeout: 2, ').replace(`${sb.root}/journal`, `${sb.root}/journal-ssh`);
      writeFileSync(join(sb.root, 'hosts.yaml'), hosts);
      rmSync(join(sb.green.dir, 'stuck.pid'), { force: true });
      const t0 = Date.now();
      const r = await bg(['run', join(sb.root, 'stuck.yaml'), '--host', 'box'], { cwd: sb.root, env: { ...t.target.env(), ...t.env }, timeoutMs: 60_000 });
      expect(r.exitCode, r.stderr).toBe(1);
      expect(Date.now() - t0).toBeLessThan(20_000);
      expect(r.stderr).toContain(`did not finish within 2 s (bound: ${t.how}`);
      expect(r.stderr).toMatch(/box: rolled back/);
      expect(existsSync(join(sb.blue.dir, 'MARK'))).toBe(false);
      const pid = Number(readFileSync(join(sb.green.dir, 'stuck.pid'), 'utf8'));
      expect(alive(pid)).toBe(false);
      expect(existsSync(join(sb.root, 'journal', 'lock'))).toBe(false);
      expect(existsSync(join(sb.root, 'journal-ssh', 'lock'))).toBe(false);
    });
  }

  it("a step's own timeout: is the bound it names", async () => {
    writeFileSync(join(sb.root, 'hosts.yaml'), `hosts:\n${localTarget.hostYaml('box', envsYaml(sb, 'http://127.0.0.1:1/'))}`);
    writeFileSync(join(sb.root, 'own.yaml'), STUCK.replace('command: echo $$ > stuck.pid && sleep 300', 'command: sleep 300\n      timeout: 1s'));
    const r = await bg(['run', join(sb.root, 'own.yaml'), '--host', 'box'], { cwd: sb.root, timeoutMs: 60_000 });
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stderr).toContain("did not finish within 1 s (bound: the step's timeout:)");
  });

  it('BG_COMMAND_TIMEOUT that is not a number is bad input (exit 2), before anything runs', async () => {
    writeFileSync(join(sb.root, 'hosts.yaml'), `hosts:\n${localTarget.hostYaml('box', envsYaml(sb, 'http://127.0.0.1:1/'))}`);
    const r = await bg(['run', join(sb.root, 'stuck.yaml'), '--host', 'box'], { cwd: sb.root, env: { BG_COMMAND_TIMEOUT: 'abc' } });
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toContain('BG_COMMAND_TIMEOUT');
    expect(existsSync(join(sb.blue.dir, 'MARK'))).toBe(false);
  });

  it('a host that accepts TCP but never speaks SSH: exit 5 within connect_timeout, nothing changed', async () => {
    const silent = net.createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      writeFileSync(join(sb.root, 'hosts.yaml'), `hosts:\n  box:\n    ssh: { host: 127.0.0.1, port: ${port}, user: nobody, connect_timeout: 1 }\n${envsYaml(sb, 'http://127.0.0.1:1/')}`);
      const t0 = Date.now();
      const r = await bg(['run', join(sb.root, 'stuck.yaml'), '--host', 'box'], { cwd: sb.root, env: ssh.env(), timeoutMs: 30_000 });
      expect(r.exitCode, r.stderr).toBe(5);
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(r.stderr).toMatch(/timed out after 1 s|did not connect within/);
      expect(r.stderr).toContain('nothing was changed');
    } finally {
      silent.close();
    }
  });

  it('a read-only command interrupted while its probe hangs stops the probe and exits 1', async () => {
    // A pm2 whose jlist never answers, beside a "daemon" that looks alive (pid file, socket).
    const fake = join(sb.root, 'hung-pm2');
    mkdirSync(join(fake, 'bin'), { recursive: true });
    mkdirSync(join(fake, 'home'), { recursive: true });
    writeFileSync(join(fake, 'bin', 'pm2'), `#!/bin/sh\necho $$ > ${fake}/jlist.pid\nexec sleep 300\n`);
    chmodSync(join(fake, 'bin', 'pm2'), 0o755);
    writeFileSync(join(fake, 'home', 'pm2.pid'), String(process.pid));
    const sock = net.createServer(() => undefined);
    await new Promise<void>((r) => sock.listen(join(fake, 'home', 'rpc.sock'), r));
    try {
      writeFileSync(join(sb.root, 'hosts.yaml'), pm2Host(localTarget, sb, join(fake, 'home'), join(fake, 'bin')));
      writeFileSync(join(sb.root, 'restarts.yaml'), PM2_PLAYBOOK);
      const child = execa('node', [BG, 'plan', join(sb.root, 'restarts.yaml'), '--host', 'box', '--check'], { cwd: sb.root, env: { CI: 'true', NO_COLOR: '1' }, reject: false, timeout: 30_000 });
      const deadline = Date.now() + 15_000;
      while (!existsSync(join(fake, 'jlist.pid')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 100));
      const hung = Number(readFileSync(join(fake, 'jlist.pid'), 'utf8'));
      expect(alive(hung)).toBe(true);
      child.kill('SIGTERM');
      const r = await child;
      expect(r.exitCode, String(r.stderr)).toBe(1);
      expect(String(r.stderr)).toContain('interrupted (SIGTERM)');
      await new Promise((res) => setTimeout(res, 200));
      expect(alive(hung)).toBe(false);
    } finally {
      sock.close();
    }
  });
});

describe('commandBound (pure): which bound a command runs under, and what its message says', async () => {
  const fc = (await import('fast-check')).default;
  const { commandBound, timeoutNote, DEFAULT_COMMAND_TIMEOUT_S } = await import('../../src/transport/transport.js');

  it('own timeout beats the host setting beats BG_COMMAND_TIMEOUT beats 600 s; the note names the seconds and the source', () => {
    fc.assert(
      fc.property(
        fc.option(fc.integer({ min: 1, max: 10_000_000 }), { nil: undefined }),
        fc.option(fc.integer({ min: 1, max: 100_000 }), { nil: undefined }),
        fc.option(fc.oneof(fc.integer({ min: 1, max: 100_000 }).map(String), fc.constantFrom('abc', '', '-5', '0')), { nil: undefined }),
        (own, host, envValue) => {
          const b = commandBound({ timeoutMs: own }, host, envValue === undefined ? {} : { BG_COMMAND_TIMEOUT: envValue });
          const envOk = envValue !== undefined && Number(envValue) > 0;
          const expected = own ?? (host ? host * 1000 : envOk ? Number(envValue) * 1000 : DEFAULT_COMMAND_TIMEOUT_S * 1000);
          expect(b.ms).toBe(expected);
          const note = timeoutNote(b);
          expect(note).toContain(`did not finish within ${b.ms % 1000 === 0 ? b.ms / 1000 : (b.ms / 1000).toFixed(1)} s (bound: ${b.source})`);
        },
      ),
      { numRuns: 300 },
    );
  });
});
