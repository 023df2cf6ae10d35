// Issue 12, item 7: phase1 on one host over a simulated WAN link (a TCP proxy that delays every
// chunk by RTT/2 each way, bench/wan-proxy.ts) in front of a real sshd, by bg, by a careful bash
// script over one OpenSSH ControlMaster connection (bench/wan/phase1.sh), and by Ansible with
// pipelining when `ansible-playbook` is installed. Plus the SSH exec requests each makes, counted
// by the server (sshd's "Starting session" log lines) and attributed to bg's steps by time.
//
//   npm run bench -- wan                 (BENCH_RUNS=N to change the runs per figure; default 5)
//
// Figures go to bench/results/wan.json and bench/README.md. Not part of `npm test`.
import { execa } from 'execa';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { deployBlueGreen, inventoryDocument, type BlueGreen } from '../test/harness/pm2.js';
import { sshClientEnv, startSshd, type SshdHandle } from '../test/harness/sshd.js';
import { median, report } from './stats.js';
import { startWanProxy, type WanProxy } from './wan-proxy.js';

// BENCH_BG: another build of bg to measure (e.g. a clean checkout of one commit, see bench/README.md).
const BG = process.env.BENCH_BG ?? fileURLToPath(new URL('../bin/bg.js', import.meta.url));
const SCRIPT = fileURLToPath(new URL('./wan/phase1.sh', import.meta.url));
const ANSIBLE_PLAYBOOK = fileURLToPath(new URL('./wan/phase1.ansible.yaml', import.meta.url));
const COUNT_EXEC = fileURLToPath(new URL('./wan/count-exec.sh', import.meta.url));
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS) || 5);
const RTTS = [0, 50, 150];
/**
 * A login user with uid 0 but a plain home: the apps run under root's pm2 and bg's phase1 checks
 * pm2 knows them, and root's own .bashrc here runs pyenv for every SSH command (~90 ms, NOTES.md),
 * which would be counted once per round trip.
 */
const USER = 'bgwan';
const hasAnsible = (() => {
  try {
    execFileSync('ansible-playbook', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

type Tool = 'bg' | 'bash' | 'ansible';
const tools: Tool[] = hasAnsible ? ['bg', 'bash', 'ansible'] : ['bg', 'bash'];

let root: string;
let d: BlueGreen;
let sshd: SshdHandle;
const snapshots: Record<'blue' | 'green', string> = { blue: '', green: '' };
const results: Record<string, unknown> = {};
const walls: Record<number, Record<Tool, number>> = {};
const stepMs: Record<number, Record<string, number>> = {};

function ensureBenchUser(): void {
  const passwd = readFileSync('/etc/passwd', 'utf8');
  if (passwd.split('\n').some((l) => l.startsWith(`${USER}:`))) return;
  execFileSync('useradd', ['-o', '-u', '0', '-g', '0', '-m', '-d', `/home/${USER}`, '-s', '/bin/bash', USER]);
  execFileSync('usermod', ['-p', '*', USER]);
}

const sql = (db: string, q: string) => execFileSync('sqlite3', ['-cmd', '.timeout 10000', db, q], { encoding: 'utf8' }).trim();

/** Both databases back at migration 001 with their seed rows (in place: the apps keep them open). */
function reset(): void {
  for (const env of ['blue', 'green'] as const) sql(d.env(env).db, `.restore '${snapshots[env]}'`);
  for (const dir of ['bash-backups', 'ansible-backups']) rmSync(join(root, dir), { recursive: true, force: true });
}

/** Did the run do the work: both databases fully migrated. */
function migrated(): boolean {
  return (['blue', 'green'] as const).every((env) => sql(d.env(env).db, 'SELECT count(*) FROM migrations') === '3');
}

/** Files that point bg, ssh and Ansible at the sshd through `port` (the proxy's, or the counting sshd's). */
function clientFiles(port: number, server: SshdHandle, tag: string) {
  const dir = mkdtempSync(join(root, `c-${tag}-`));
  const knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, server.knownHostsLine.replace(/^\[127\.0\.0\.1\]:\d+/, `[127.0.0.1]:${port}`) + '\n');
  const hosts = join(dir, 'hosts.yaml');
  writeFileSync(
    hosts,
    inventoryDocument(
      d.inventoryYaml('wan', {
        ssh: { host: '127.0.0.1', port, user: server.user, key: server.clientKeyPath },
        path: [d.binDir],
        environment: { PM2_HOME: d.pm2Home },
        journal: join(root, 'journal'),
        backups: { dir: join(root, 'bg-backups'), keep: 3 },
      }),
    ),
  );
  const sshConfig = join(dir, 'ssh_config');
  writeFileSync(
    sshConfig,
    [
      'Host wan',
      '  HostName 127.0.0.1',
      `  Port ${port}`,
      `  User ${server.user}`,
      `  IdentityFile ${server.clientKeyPath}`,
      '  IdentitiesOnly yes',
      `  UserKnownHostsFile ${knownHosts}`,
      '  StrictHostKeyChecking yes',
      '  BatchMode yes',
      `  ControlPath ${dir}/cm-%C`,
      '  ControlPersist 60',
      '',
    ].join('\n'),
  );
  const inventory = join(dir, 'ansible.ini');
  writeFileSync(
    inventory,
    `bench ansible_host=127.0.0.1 ansible_port=${port} ansible_user=${server.user} ansible_ssh_private_key_file=${server.clientKeyPath} ansible_python_interpreter=/usr/bin/python3 ansible_ssh_common_args='-o UserKnownHostsFile=${knownHosts} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes'\n`,
  );
  const vars = join(dir, 'vars.json');
  writeFileSync(
    vars,
    JSON.stringify({ backups: join(root, 'ansible-backups'), run: 'bench', blue_dir: d.blue.dir, blue_health: d.blue.health, green_dir: d.green.dir, green_health: d.green.health }),
  );
  return { dir, knownHosts, hosts, sshConfig, inventory, vars };
}
type Clients = ReturnType<typeof clientFiles>;

interface BgEvent {
  type: string;
  step?: number;
  durationMs?: number;
  at: number;
}

/** One `bg run phase1`, its events stamped with this machine's clock as they arrive. */
async function runBg(c: Clients): Promise<{ ms: number; events: BgEvent[] }> {
  const t = performance.now();
  const child = spawn('node', [BG, 'run', 'phase1', '--host', 'wan', '-i', c.hosts, '--json'], {
    cwd: root,
    env: { ...process.env, ...sshClientEnv(c.knownHosts), CI: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events: BgEvent[] = [];
  let stderr = '';
  child.stderr.on('data', (b) => (stderr += b));
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (l) => events.push({ ...(JSON.parse(l) as object), at: Date.now() } as BgEvent));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const ms = performance.now() - t;
  if (code !== 0) throw new Error(`bg exited ${code}: ${stderr}`);
  return { ms, events };
}

async function runBash(c: Clients): Promise<number> {
  const t = performance.now();
  const r = await execa('sh', [SCRIPT, c.sshConfig, 'wan', join(root, 'bash-backups'), 'bench', d.blue.dir, d.blue.health, d.green.dir, d.green.health], { reject: false });
  const ms = performance.now() - t;
  if (r.exitCode !== 0) throw new Error(`phase1.sh exited ${r.exitCode}: ${r.stderr}`);
  return ms;
}

async function runAnsible(c: Clients): Promise<number> {
  // A fresh control directory per run: ControlPersist would otherwise hand the next run a warm connection.
  const control = mkdtempSync(join(c.dir, 'cp-'));
  const t = performance.now();
  const r = await execa('ansible-playbook', ['-i', c.inventory, ANSIBLE_PLAYBOOK, '-e', `@${c.vars}`], {
    reject: false,
    env: { ANSIBLE_PIPELINING: 'True', ANSIBLE_SSH_CONTROL_PATH_DIR: control, ANSIBLE_NOCOLOR: '1', ANSIBLE_HOST_KEY_CHECKING: 'True', ANSIBLE_RETRY_FILES_ENABLED: 'False' },
  });
  const ms = performance.now() - t;
  for (const sock of execFileSync('ls', [control], { encoding: 'utf8' }).split('\n').filter(Boolean))
    await execa('ssh', ['-o', `ControlPath=${join(control, sock)}`, '-O', 'exit', 'x'], { reject: false });
  if (r.exitCode !== 0) throw new Error(`ansible-playbook exited ${r.exitCode}: ${r.stdout}\n${r.stderr}`);
  return ms;
}

async function once(tool: Tool, c: Clients): Promise<{ ms: number; events?: BgEvent[] }> {
  reset();
  const r = tool === 'bg' ? await runBg(c) : { ms: tool === 'bash' ? await runBash(c) : await runAnsible(c) };
  if (!migrated()) throw new Error(`${tool}: the databases are not migrated after the run`);
  return r;
}

beforeAll(async () => {
  ensureBenchUser();
  // Short: pm2's socket path <root>/.pm2/rpc.sock must stay under ~100 characters.
  root = mkdtempSync(join(tmpdir(), 'bgwan-'));
  [sshd, d] = await Promise.all([startSshd({ user: USER }), deployBlueGreen({ root, migrateTo: '001', seed: { blue: 200, green: 200 } })]);
  for (const env of ['blue', 'green'] as const) {
    snapshots[env] = join(root, `${env}-snapshot.db`);
    sql(d.env(env).db, `.backup '${snapshots[env]}'`);
  }
}, 600_000);

afterAll(async () => {
  await d?.stop();
  await sshd?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
  report('wan', results);
}, 60_000);

for (const rtt of RTTS) {
  it(`phase1 at RTT ${rtt} ms: bg, bash + ControlMaster${hasAnsible ? ', Ansible' : ''}`, async () => {
    const proxy: WanProxy = await startWanProxy({ host: '127.0.0.1', port: sshd.port }, rtt);
    try {
      const c = clientFiles(proxy.port, sshd, `rtt${rtt}`);
      if (rtt === 0) for (const tool of tools) await once(tool, c); // warm-up: page cache, npm, Python bytecode
      const runs = rtt >= 150 ? Math.min(RUNS, 3) : RUNS;
      const ms: Record<Tool, number[]> = { bg: [], bash: [], ansible: [] };
      const durations: Record<string, number[]> = {};
      // Interleaved, so that a slow moment of the machine hits every tool alike.
      for (let i = 0; i < runs; i++)
        for (const tool of tools) {
          const r = await once(tool, c);
          ms[tool].push(r.ms);
          for (const e of r.events ?? []) if (e.type === 'step-done') (durations[String(e.step)] ??= []).push(e.durationMs!);
        }
      walls[rtt] = Object.fromEntries(tools.map((t) => [t, Math.round(median(ms[t]))])) as Record<Tool, number>;
      stepMs[rtt] = Object.fromEntries(Object.entries(durations).map(([s, xs]) => [s, Math.round(median(xs))]));
      results[`rtt ${rtt} ms`] = {
        runs,
        'median wall ms': walls[rtt],
        'all runs ms': Object.fromEntries(tools.map((t) => [t, ms[t].map(Math.round)])),
        'bg / bash': +(walls[rtt]!.bg / walls[rtt]!.bash).toFixed(2),
        'bg step durations ms (median)': stepMs[rtt],
        ...(rtt > 0 && stepMs[0]
          ? { 'bg network round trips per step ((step ms - step ms at RTT 0) / RTT)': Object.fromEntries(Object.entries(stepMs[rtt]!).map(([s, v]) => [s, +((v - (stepMs[0]![s] ?? 0)) / rtt).toFixed(1)])) }
          : {}),
      };
      console.log(`[bench] RTT ${rtt} ms: ${JSON.stringify(results[`rtt ${rtt} ms`])}`);
    } finally {
      await proxy.stop();
    }
  });
}

// Exec requests (SSH channels running a command) per tool, and per step for bg, counted by the
// server: a second sshd whose ForceCommand stamps every request before running it (no change in bg).
it('SSH exec requests per run, and per step for bg', async () => {
  const counts: Record<string, unknown> = {};
  for (const tool of tools) {
    // A fresh server per tool: its log keeps only its last 200 lines.
    const log = join(root, `exec-${tool}.log`);
    const counting = await startSshd({ user: USER, extraConfig: [`ForceCommand ${COUNT_EXEC} ${log}`] });
    try {
      const r = await once(tool, clientFiles(counting.port, counting, `count-${tool}`));
      const stamps = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean) : [];
      // The wrapper's stamps and sshd's own log must agree, or the attribution below is wrong.
      expect(stamps.length).toBe(startingSessions(counting));
      counts[tool] = { 'exec requests': stamps.length };
      if (tool === 'bg') counts['bg per step'] = perStep(stamps, r.events!);
    } finally {
      await counting.stop();
    }
  }
  results['exec requests (counted by sshd)'] = counts;
  console.log(`[bench] exec requests: ${JSON.stringify(counts)}`);
});

/** "Starting session" lines in sshd's log (LogLevel VERBOSE: one per exec request). */
function startingSessions(s: SshdHandle): number {
  return s.log().split('\n').filter((l) => l.includes('Starting session:')).length;
}

/** Stamped exec requests attributed to bg's steps by time: before the first step, step N, after the last. */
function perStep(stamps: string[], events: BgEvent[]): Record<string, number> {
  const starts = events.filter((e) => e.type === 'step-start');
  const out: Record<string, number> = {};
  for (const line of stamps) {
    const at = Number(line.split(' ')[0]);
    const last = starts.filter((e) => e.at <= at).pop();
    const done = last && events.find((e) => e.type === 'step-done' && e.step === last.step);
    const key = !last ? 'before step 1 (host checks, lock, pre-flight, journal start)' : done && done.at < at && last === starts.at(-1) ? 'after the last step (journal end, unlock)' : `step ${last.step}`;
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

