import { execa } from 'execa';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, it } from 'vitest';
import { makeSandbox, type Sandbox } from '../test/harness/sandbox.js';
import { sshClientEnv, startSshd, type SshdHandle } from '../test/harness/sshd.js';
import { createSshTransport } from '../src/transport/ssh.js';
import { median, report, timeCommand, times } from './stats.js';

const BG = fileURLToPath(new URL('../bin/bg.js', import.meta.url));
const STEPS = 100;
const HOSTS = 10;

let hosts: SshdHandle[] = [];
let sb: Sandbox;
let knownHosts: string;

const hostBlock = (name: string, s: SshdHandle) =>
  `  ${name}:\n    ssh: { host: 127.0.0.1, port: ${s.port}, user: ${s.user}, key: ${s.clientKeyPath} }\n    envs: { blue: { dir: ${sb.blue.dir} } }\n    journal: ${sb.root}/journal-${name}\n`;

function playbook(file: string, steps: number, mutates: boolean, command = 'true'): string {
  const body = Array.from({ length: steps }, (_, i) =>
    mutates
      ? `  - { name: step ${i + 1}, action: shell, with: { command: "${command}", undo: "true" } }`
      : `  - { name: step ${i + 1}, action: shell, with: { command: "${command}", mutates: false } }`,
  ).join('\n');
  const path = join(sb.root, file);
  writeFileSync(path, `name: ${file}\nsteps:\n${body}\n`);
  return path;
}

async function bgRun(args: string[]): Promise<{ ms: number; events: Array<Record<string, unknown>> }> {
  const t = performance.now();
  const r = await execa('node', [BG, ...args, '--json'], { cwd: sb.root, reject: false, env: sshClientEnv(knownHosts) });
  const ms = performance.now() - t;
  if (r.exitCode !== 0) throw new Error(`bg exited ${r.exitCode}: ${r.stderr}`);
  return { ms, events: String(r.stdout).trim().split('\n').map((l) => JSON.parse(l)) };
}

beforeAll(async () => {
  sb = makeSandbox('bg-bench-');
  for (let i = 0; i < HOSTS; i++) hosts.push(await startSshd());
  knownHosts = join(sb.root, 'known_hosts');
  writeFileSync(knownHosts, hosts.map((h) => h.knownHostsLine).join('\n') + '\n');
  writeFileSync(join(sb.root, 'hosts.yaml'), `hosts:\n${hosts.map((h, i) => hostBlock(`h${i + 1}`, h)).join('')}groups:\n  all: [${hosts.map((_, i) => `h${i + 1}`).join(', ')}]\n`);
});
afterAll(async () => {
  await Promise.all(hosts.map((h) => h.stop()));
  sb.remove();
});

// Issue 3: per-step cost of bg over one connection vs OpenSSH with and without ControlMaster.
it('100 trivial steps on one host', async () => {
  const h = hosts[0]!;
  const sshBase = ['-i', h.clientKeyPath, '-p', String(h.port), '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes'];
  const target = `${h.user}@127.0.0.1`;

  const stepMs = async (file: string) => {
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push(await bgRun(['run', file, '--host', 'h1']));
    const perStep = runs.flatMap((r) => r.events.filter((e) => e.type === 'step-done').map((e) => e.durationMs as number));
    return { perStep: median(perStep), wall: median(runs.map((r) => r.ms)) };
  };
  const readOnly = await stepMs(playbook('trivial-readonly.yaml', STEPS, false));
  const journaled = await stepMs(playbook('trivial-journaled.yaml', STEPS, true));

  const plain = await times(30, () => timeCommand('ssh', [...sshBase, target, 'true']));
  const sock = join(sb.root, 'cm.sock');
  await execa('ssh', [...sshBase, '-o', 'ControlMaster=yes', '-o', `ControlPath=${sock}`, '-o', 'ControlPersist=120', '-fN', target], { stdio: 'ignore' });
  const muxed = await times(STEPS, () => timeCommand('ssh', [...sshBase, '-o', `ControlPath=${sock}`, target, 'true']));
  await execa('ssh', ['-o', `ControlPath=${sock}`, '-O', 'exit', target], { reject: false, stdio: 'ignore' });

  const cm = median(muxed);
  report('ssh-steps', {
    steps: STEPS,
    user: h.user,
    'bg per step, read-only shell step (ms, median)': +readOnly.perStep.toFixed(2),
    'bg per step, journaled shell step (ms, median)': +journaled.perStep.toFixed(2),
    'bg whole run of 100 read-only steps incl. start-up and connect (ms, median of 3)': Math.round(readOnly.wall),
    'bg whole run of 100 journaled steps (ms, median of 3)': Math.round(journaled.wall),
    'OpenSSH `ssh host true` without ControlMaster (ms, median of 30)': +median(plain).toFixed(1),
    'OpenSSH `ssh host true` with ControlMaster (ms, median of 100)': +cm.toFixed(2),
    'ratio bg read-only / ControlMaster': +(readOnly.perStep / cm).toFixed(2),
    'ratio bg journaled / ControlMaster': +(journaled.perStep / cm).toFixed(2),
  });
});

// Issue 3: 10 hosts in parallel vs 1 host for a short playbook.
it('10 hosts vs 1 host', async () => {
  const file = playbook('short.yaml', 5, true);
  await bgRun(['run', file, '--host', 'h1']); // warm-up
  const one = await times(5, async () => (await bgRun(['run', file, '--host', 'h1'])).ms);
  const ten = await times(5, async () => (await bgRun(['run', file, '--host', 'all'])).ms);
  // Steps that wait rather than compute, as real steps mostly do (a migration, a restart, a
  // health check): here the 10 sshd "hosts" do not compete with bg for this machine's 2 cores.
  const waiting = playbook('short-waiting.yaml', 5, true, 'sleep 0.2');
  await bgRun(['run', waiting, '--host', 'h1']);
  const oneW = await times(5, async () => (await bgRun(['run', waiting, '--host', 'h1'])).ms);
  const tenW = await times(5, async () => (await bgRun(['run', waiting, '--host', 'all'])).ms);
  report('ssh-hosts', {
    'playbook steps': 5,
    'trivial steps (`true`): 1 host (ms, median of 5)': Math.round(median(one)),
    [`trivial steps: ${HOSTS} hosts in parallel (ms, median of 5)`]: Math.round(median(ten)),
    'trivial steps: ratio': +(median(ten) / median(one)).toFixed(2),
    'waiting steps (`sleep 0.2`): 1 host (ms, median of 5)': Math.round(median(oneW)),
    [`waiting steps: ${HOSTS} hosts in parallel (ms, median of 5)`]: Math.round(median(tenW)),
    'waiting steps: ratio': +(median(tenW) / median(oneW)).toFixed(2),
  });
});

// Moved here from test/e2e/ssh-transport.test.ts (timings are figures, not test assertions):
// the transport's connect time, per-command latency (TCP_NODELAY, NOTES.md) and its cap of 8
// commands at a time on one connection.
it('ssh transport: connect, per-command latency, 20 concurrent commands', async () => {
  const h = hosts[0]!;
  const saved = process.env.BG_KNOWN_HOSTS;
  process.env.BG_KNOWN_HOSTS = h.knownHostsPath;
  const t = createSshTransport('bench', { host: h.host, port: h.port, user: h.user, key: h.clientKeyPath }, { homeDir: sb.root });
  try {
    const c0 = performance.now();
    await t.connect();
    const connectMs = performance.now() - c0;
    const perCommand = await times(40, async () => {
      const s = performance.now();
      await t.exec('true');
      return performance.now() - s;
    });
    const s = performance.now();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => t.exec(`sleep 0.3; echo ${i}`)));
    const concurrentMs = performance.now() - s;
    if (results.some((r) => r.exitCode !== 0)) throw new Error('a concurrent command failed');
    const med = median(perCommand);
    report('ssh-transport', {
      'connect (ms)': Math.round(connectMs),
      'exec `true` (ms, median of 40)': +med.toFixed(1),
      'target: under 30 ms (with Nagle on, every command stalls ~40 ms)': med < 30 ? 'met' : 'MISSED',
      '20 × `sleep 0.3` at once (ms; 3 waves of 8 ≈ 900, unbounded ≈ 300)': Math.round(concurrentMs),
    });
  } finally {
    await t.close();
    if (saved === undefined) delete process.env.BG_KNOWN_HOSTS;
    else process.env.BG_KNOWN_HOSTS = saved;
  }
});
