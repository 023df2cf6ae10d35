/**
 * Fault tests (issue 5, item 6): bg's SSH connection is killed in the middle of every mutating
 * step of phase2 and of the env playbook, against the real thing — the example app deployed as
 * BLUE and GREEN under a real pm2, SQLite databases, and bg reaching the host over a real
 * OpenSSH sshd (test/harness). Each time: the run exits with a clear error naming the host and
 * the lost connection (exit 4: the automatic rollback cannot start without the connection), and
 * `bg unlock` (the dead run's lock is left) + `bg rollback` put back exactly the state from before
 * the run: schema fingerprints (`bg status`), every row of both databases (`.dump`), regular
 * database files and no leftover beside them, byte-identical .env files, both apps online and
 * healthy on their own databases. A `bg rollback` that itself loses its connection is finished by
 * a second one, and phase2 then runs again.
 *
 * How a kill lands mid-step, deterministically: test/fixtures/faults/gate.sh stands in for pm2,
 * sqlite3, ln, mv and curl on the host's PATH (the inventory's `path:`). The test "arms" it with
 * a command, a step and an argument pattern; the first matching call once that step has started
 * (its `step-start` is in the run's journal) stops and waits. The test then SIGKILLs the sshd
 * processes serving bg's connection (SshdHandle.sessionPids()) and tells the held command either
 * to go on (`go`: what really happens, sshd does not stop a command whose client is gone; the
 * script dies of SIGPIPE at its next write to the dead connection) or to die with its whole
 * process group (`die`: the step is left half done). The journal must show `step-start` without
 * `step-done` for the step when the kill lands. Before `bg rollback`, the tests wait until the
 * interrupted command has ended on the host (see BUG 2 for what happens otherwise).
 *
 * Playbook steps (from `bg plan --json`, checked by the first test): phase2 has one mutating step,
 * 5 share-db, whose capture + 4 commands (freeze, copy, switch, restart) + verify are each hit;
 * env has 4 (env-set green, env-set blue, pm2 restart green, pm2 restart blue).
 *
 * The bugs these tests found (BUG 1-3 at the end, with their cause in comments) are fixed; their tests stay.
 * The tests run in order on one deployment; each starts and ends at the baseline state (but the
 * last one, which leaves it broken).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bg, type BgResult } from '../harness/cli.js';
import { deployBlueGreen, inventoryDocument, type BlueGreen, type EnvName } from '../harness/pm2.js';
import { sshClientEnv, startSshd, type SshdHandle } from '../harness/sshd.js';

const GATE = new URL('../fixtures/faults/gate.sh', import.meta.url).pathname;
const GATED = ['pm2', 'sqlite3', 'ln', 'mv', 'curl'];
const ENVS: EnvName[] = ['blue', 'green'];
const SHARE_DB = 'Move BLUE and GREEN onto the shared database';
const SHARE_DB_PLAYBOOK = new URL('../fixtures/faults/share-db.yaml', import.meta.url).pathname;
const UNDO_PLAYBOOK = new URL('../fixtures/faults/undo.yaml', import.meta.url).pathname;
const PROBE_PLAYBOOK = new URL('../fixtures/faults/probe.yaml', import.meta.url).pathname;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sql = (db: string, ...args: string[]) => execFileSync('sqlite3', ['-batch', '-cmd', '.timeout 5000', db, ...args], { encoding: 'utf8' });

let root = '';
let work = '';
let faults = '';
let journal = '';
let d: BlueGreen;
let sshd: SshdHandle;
let cliEnv: Record<string, string>;
let baseline: Snapshot;
let baselineConfig: Record<EnvName, unknown>;

const run = (args: string[]) => bg(['--inventory', join(work, 'hosts.yaml'), ...args], { cwd: work, env: cliEnv, timeoutMs: 120_000 });
const shared = () => join(root, 'database-shared.db');

// ------------------------------------------------------------------------------------ the state

interface Snapshot {
  /** Per env: schema fingerprint and database path as `bg status` reports them (with `full`). */
  status?: Record<string, { fingerprint: unknown; db: unknown; real: unknown }>;
  /** Per env: `.dump` of its database (schema, every row, sqlite_sequence). */
  dumps: Record<string, string>;
  /** Per env: the database path is a regular file (not a symlink). */
  regular: Record<string, boolean>;
  /** Per env: the .env file, byte for byte (base64). */
  dotenv: Record<string, string>;
  /** Per env: the names in its directory (but SQLite's -wal/-shm files, which come and go). */
  files: Record<string, string[]>;
  /** The deployment root, without bg's own journal and backups. */
  rootFiles: string[];
  /** The host's lock (the journal's lock directory). */
  locked: boolean;
}

/** The state a run must leave as it found it. `full` adds `bg status` (~1 s: a CLI start and an SSH connection). */
async function snapshot(full: boolean): Promise<Snapshot> {
  const s: Snapshot = { dumps: {}, regular: {}, dotenv: {}, files: {}, rootFiles: [], locked: existsSync(join(journal, 'lock')) };
  if (full) {
    const st = await run(['status', '--host', 'prod', '--json']);
    expect(st.exitCode, st.stderr).toBe(0);
    const host = (JSON.parse(st.stdout) as Array<{ lock: unknown; envs: Record<string, { fingerprint: unknown; db: unknown; real: unknown }> }>)[0]!;
    expect(host.lock).toBeNull();
    s.status = {};
    for (const name of ENVS) {
      const { fingerprint, db, real } = host.envs[name]!;
      s.status[name] = { fingerprint, db, real };
    }
  }
  for (const name of ENVS) {
    const e = d.env(name);
    s.dumps[name] = sql(e.db, '.dump');
    const l = lstatSync(e.db);
    s.regular[name] = l.isFile() && !l.isSymbolicLink();
    s.dotenv[name] = readFileSync(e.envFile).toString('base64');
    s.files[name] = readdirSync(e.dir).filter((f) => !/-(wal|shm)$/.test(f)).sort();
  }
  // The undo keeps the shared database aside as database-shared.db.rolled-back-RUNID once the apps
  // have run on it (by design: rows written meanwhile are only there); it blocks nothing.
  s.rootFiles = readdirSync(root).filter((f) => !['bg-backups', 'journal'].includes(f) && !f.startsWith('database-shared.db.rolled-back-')).sort();
  return s;
}

/** Both apps online under pm2, healthy, each on its own database file. */
async function expectAppsHealthy(timeoutMs = 15_000): Promise<void> {
  for (const name of ENVS) {
    const h = await d.waitHealthy(name, { timeoutMs });
    expect(h.status).toBe('ok');
    expect(h.db, `${name} has its own database open`).toBe(realpathSync(d.env(name).db));
  }
  const procs = await d.jlist();
  for (const name of ENVS) expect(procs.find((p) => p.name === d.env(name).app)?.status, name).toBe('online');
}

/** The state from before the runs; `full` also compares what `bg status` reports. */
async function expectBaseline(full = true): Promise<void> {
  const { status, ...rest } = baseline;
  expect(await snapshot(full)).toEqual(full ? baseline : rest);
  await expectAppsHealthy();
}

// ------------------------------------------------------------------------------------ faults

/** The processes of a process group (the held command's session on the host). */
async function groupMembers(pgid: number): Promise<number[]> {
  const out: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] !== 'Z' && Number(fields[2]) === pgid) out.push(Number(entry));
  }
  return out;
}

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

interface Fault {
  /** The bg command line (after --inventory), e.g. ['run', 'phase2', '--host', 'prod']. */
  args: string[];
  /** The gated step is in progress when the kill lands (not for a `bg rollback`: its steps are done). */
  midStep?: boolean;
  /** Which call the gate holds: command, step index (`-`: any step, once the run holds the lock), regex over its arguments. */
  gate: { cmd: (typeof GATED)[number]; step: number | '-'; args: string };
  /** What the held command does once the connection is dead. */
  then: 'go' | 'die';
  /** Release the held command only after this (default: at once, after bg has exited). */
  holdUntil?: Promise<unknown>;
}

interface FaultResult {
  result: BgResult;
  runId: string;
  /** The journal log of the run as it was when the connection was killed. */
  logAtKill: string;
  /** What the gate held: "command args". */
  held: string;
  /** Resolves when every process of the held command's session on the host has ended. */
  orphanGone: Promise<void>;
}

/**
 * Run bg, hold the gated call, kill bg's SSH connection while it is held, wait for bg to exit,
 * then let the held command go on or die.
 */
async function runWithFault(f: Fault): Promise<FaultResult> {
  for (const name of readdirSync(faults)) if (name !== 'bin') rmSync(join(faults, name), { force: true });
  writeFileSync(join(faults, 'arm'), `${f.gate.cmd} ${f.gate.step} ${f.gate.args}\n`);
  // Only bg's connection will be open (an earlier command's sshd process may still be exiting).
  await waitFor('no SSH session open', async () => ((await sshd.sessionPids()).length === 0 ? true : undefined), 10_000);

  let finished: BgResult | undefined;
  const pending = run(f.args).then((r) => (finished = r));
  const reached = await waitFor(
    `the gate to hold ${f.gate.cmd} in step ${f.gate.step}`,
    () => {
      if (finished) throw new Error(`bg exited ${finished.exitCode} before the gate held anything:\n${finished.stdout}\n${finished.stderr}`);
      return existsSync(join(faults, 'reached')) ? readFileSync(join(faults, 'reached'), 'utf8').trim() : undefined;
    },
    60_000,
  );
  const [, pgidText, ...held] = reached.split(' ');
  const pgid = Number(pgidText);

  // The kill lands while the step is in progress: started, not done, not failed.
  const lock = JSON.parse(readFileSync(join(journal, 'lock', 'info.json'), 'utf8')) as { runId: string };
  const logAtKill = readFileSync(join(journal, 'runs', lock.runId, 'log'), 'utf8');
  if (f.gate.step !== '-') expect(logAtKill).toContain(`"event":"step-start","step":${f.gate.step}}`);
  if (f.midStep !== false && f.gate.step !== '-') {
    expect(logAtKill).not.toContain(`"step-done","step":${f.gate.step}}`);
    expect(logAtKill).not.toContain('"step-failed"');
  }

  const sessions = await sshd.sessionPids();
  expect(sessions.length).toBeGreaterThan(0);
  for (const pid of sessions) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  const result = await pending;
  expect(existsSync(join(faults, 'outcome')), 'the held command is still held when bg exits').toBe(false);

  const release = async () => {
    await f.holdUntil;
    writeFileSync(join(faults, 'release'), `${f.then}\n`);
    await waitFor('the held command to be released', () => (existsSync(join(faults, 'outcome')) ? true : undefined), 10_000);
    await waitFor(`the interrupted command on the host (process group ${pgid}) to end`, async () => ((await groupMembers(pgid)).length === 0 ? true : undefined), 60_000);
  };
  const orphanGone = release();
  orphanGone.catch(() => undefined);
  if (!f.holdUntil) await orphanGone;
  return { result, runId: lock.runId, logAtKill, held: held.join(' '), orphanGone };
}

/**
 * What bg says when its connection dies mid-step: the automatic rollback cannot even start (its
 * first journal write needs the connection), so exit 4, naming the host, the lost connection, the
 * step left undone and the run's journal.
 */
function expectConnectionLostReport(r: BgResult, runId: string, step: { failed?: string; left: string[] }): void {
  expect(r.exitCode, `${r.stdout}\n${r.stderr}`).toBe(4);
  expect(r.stderr).toMatch(new RegExp(`connection lost to ${sshd.user}@127\\.0\\.0\\.1:${sshd.port}`));
  if (step.failed) {
    expect(r.stderr).toContain(`"${step.failed}" failed on prod`);
    expect(r.stderr).toContain("the command's outcome on the host is unknown");
  }
  expect(r.stderr).toContain('prod: ROLLBACK INCOMPLETE — a person must look.');
  expect(r.stderr).toContain(`Not undone, newest first:\n${step.left.map((l) => `  ${l}\n`).join('')}journal: prod:${runId}`);
}

/**
 * The recovery a person does after such a run: bg rollback. The dead run could not release its lock
 * (the connection was gone); bg rollback of that very run takes the lock over, since the bg process
 * that held it is gone and no command of the run still runs on the host. No --accept-data-loss:
 * nothing writes to the databases during these tests.
 */
async function recover(runId: string, undone: number, opts: { history?: boolean } = {}): Promise<{ rollback: BgResult }> {
  if (opts.history) {
    expect(existsSync(join(journal, 'lock')), 'the dead run left its lock').toBe(true);
    expect((await run(['history', '--host', 'prod'])).stdout).toMatch(new RegExp(`${runId} .* interrupted`));
  }
  const rollback = await run(['rollback', '--host', 'prod']);
  expect(rollback.exitCode, `${rollback.stdout}\n${rollback.stderr}`).toBe(0);
  expect(rollback.stdout).toContain(`prod: run ${runId} undone (${undone} step`);
  expect(existsSync(join(journal, 'lock')), 'bg rollback released the lock').toBe(false);
  if (opts.history) expect((await run(['history', '--host', 'prod'])).stdout).toMatch(new RegExp(`${runId} .* rolled back`));
  return { rollback };
}

function note(title: string, r: BgResult): void {
  console.log(`[faults] ${title}: exit ${r.exitCode}\n${r.stderr.split('\n').filter((l) => !/^\s{4}/.test(l)).join('\n')}`);
}

// ------------------------------------------------------------------------------------ setup

beforeAll(async () => {
  // Short: pm2's socket path <root>/.pm2/rpc.sock must stay under ~100 characters.
  root = mkdtempSync(join(tmpdir(), 'bgft-'));
  work = join(root, 'work');
  faults = join(root, 'faults');
  journal = join(root, 'journal');
  mkdirSync(join(faults, 'bin'), { recursive: true });
  mkdirSync(work);
  for (const cmd of GATED) writeFileSync(join(faults, 'bin', cmd), `#!/bin/sh\nFAULT_NAME=${cmd} FAULT_BIN=${join(faults, 'bin')} exec /bin/sh ${GATE} "$@"\n`, { mode: 0o755 });
  [sshd, d] = await Promise.all([
    startSshd({ user: 'root' }),
    // GREEN holds 5 rows BLUE lacks: phase2 runs with base=blue, and GREEN's own rows must come back.
    deployBlueGreen({ root, migrateTo: 'all', seed: { blue: 20, green: 5 }, dotenv: { green: { ALLOWED_ORIGINS: 'https://old.example' } } }),
  ]);
  // A hand-kept .env: comment, blank line, `export`, a quoted value with a trailing comment.
  const greenEnv = readFileSync(d.green.envFile, 'utf8').replace(/^ALLOWED_ORIGINS=.*$/m, "\n# who may call the API\nexport ALLOWED_ORIGINS='https://old.example'  # by hand");
  writeFileSync(d.green.envFile, greenEnv);
  await d.pm2(['restart', d.green.app, '--update-env']);
  const host = d.inventoryYaml('prod', {
    ssh: { host: '127.0.0.1', port: sshd.port, user: sshd.user, key: sshd.clientKeyPath },
    path: [join(faults, 'bin'), d.binDir],
    environment: { PM2_HOME: d.pm2Home, FAULT_JOURNAL: journal },
    journal,
  });
  writeFileSync(join(work, 'hosts.yaml'), inventoryDocument(host));
  cliEnv = sshClientEnv(sshd.knownHostsPath);
  await expectAppsHealthy(30_000);
  baseline = await snapshot(true);
  baselineConfig = { blue: await config('blue'), green: await config('green') };
}, 180_000);

afterAll(async () => {
  await d?.stop();
  await sshd?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
}, 60_000);

async function config(name: EnvName): Promise<unknown> {
  const res = await fetch(`${d.env(name).url}/api/config`, { signal: AbortSignal.timeout(5000) });
  return ((await res.json()) as Record<string, unknown>)['ALLOWED_ORIGINS'];
}

// ------------------------------------------------------------------------------------ tests

describe('the connection dies in the middle of a mutating step; bg rollback restores the state from before the run', () => {
  it('the baseline: both envs on their own databases, same schema, GREEN with rows of its own; the plans list the mutating steps', async () => {
    expect(baseline.locked).toBe(false);
    expect(baseline.status!['blue']!.fingerprint).toEqual(baseline.status!['green']!.fingerprint);
    expect(baseline.regular).toEqual({ blue: true, green: true });
    expect(baseline.rootFiles).not.toContain('database-shared.db');
    expect(Number(sql(d.blue.db, 'SELECT count(*) FROM time_entries').trim())).toBe(20);
    expect(Number(sql(d.green.db, 'SELECT count(*) FROM time_entries').trim())).toBe(5);
    expect(baselineConfig).toEqual({ blue: null, green: 'https://old.example' });

    // The fault list below covers every mutating step of both playbooks.
    const mutating = async (playbook: string, ...vars: string[]) => {
      const r = await run(['plan', playbook, '--host', 'prod', '--json', ...vars.flatMap((v) => ['--var', v])]);
      expect(r.exitCode, r.stderr).toBe(0);
      const plan = (JSON.parse(r.stdout) as Array<{ steps: Array<{ index: number; action: string; mutates: boolean; run: unknown[] }> }>)[0]!;
      return plan.steps.filter((s) => s.mutates).map((s) => `${s.index} ${s.action} (${s.run.length} command${s.run.length > 1 ? 's' : ''})`);
    };
    expect(await mutating('phase2', 'base=blue')).toEqual(['5 share-db (4 commands)']);
    expect(await mutating('env', 'key=ALLOWED_ORIGINS', 'value=x')).toEqual(['1 env-set (1 command)', '2 env-set (1 command)', '3 pm2 (1 command)', '4 pm2 (1 command)']);
  });

  // share-db: capture, then freeze / copy / switch / restart, then verify. `then` is what the
  // command held on the host does after the kill; `left` checks what it has left behind by then.
  // A command that goes on (`go`) no longer dies at its next write to the dead connection: the
  // host-side step runner (bg_step) keeps the commands' output in files, runs the rest of the step
  // without bg and journals its outcome: the move is complete, and `bg status` says step 5 is done.
  const moveComplete = () => {
    for (const name of ENVS) expect(realpathSync(d.env(name).db)).toBe(realpathSync(shared()));
  };
  const shareDbFaults: Array<{ title: string; gate: Fault['gate']; then: Fault['then']; left: () => Promise<void> | void; bug1?: true }> = [
    {
      title: 'capture (pm2 jlist): bg is gone, the host runs the step to its end and journals it done',
      gate: { cmd: 'pm2', step: 5, args: '^jlist$' },
      then: 'go',
      left: moveComplete,
    },
    {
      title: 'freeze, BLUE stopped, GREEN being stopped: the host finishes the move without bg',
      gate: { cmd: 'pm2', step: 5, args: '^stop timetracking-green$' },
      then: 'go',
      left: moveComplete,
    },
    {
      title: 'copy (.backup of the base): the host finishes the move without bg',
      gate: { cmd: 'sqlite3', step: 5, args: '\\.backup ' },
      then: 'go',
      left: moveComplete,
    },
    {
      title: 'switch, BLUE switched, GREEN half switched (.OLD link and tmp symlink made), the command dies',
      gate: { cmd: 'mv', step: 5, args: '^-T .*GREEN/server/database\\.db\\.bg-tmp ' },
      then: 'die',
      left: () => {
        expect(lstatSync(d.blue.db).isSymbolicLink()).toBe(true);
        expect(lstatSync(d.green.db).isFile()).toBe(true);
        expect(lstatSync(`${d.green.db}.OLD`).ino).toBe(lstatSync(d.green.db).ino);
        expect(lstatSync(`${d.green.db}.bg-tmp`).isSymbolicLink()).toBe(true);
      },
    },
    {
      title: 'restart, BLUE started on the shared database, GREEN being started: the host finishes',
      gate: { cmd: 'pm2', step: 5, args: '^start timetracking-green$' },
      then: 'go',
      left: moveComplete,
    },
    {
      title: 'verify (every process has the shared database open): the move is complete',
      gate: { cmd: 'curl', step: 5, args: '.' },
      then: 'go',
      left: moveComplete,
      // Killed during a verify probe that retries (BUG 1, fixed): see the test below.
      bug1: true,
    },
  ];

  shareDbFaults.forEach((fault, i) => {
    it(`phase2, share-db ${fault.title}`, async () => {
      await expectBaseline(false);
      const { result, runId, held } = await runWithFault({ args: ['run', 'phase2', '--host', 'prod', '--var', 'base=blue'], gate: fault.gate, then: fault.then });
      note(`phase2 killed in share-db (${held})`, result);
      expectConnectionLostReport(result, runId, { failed: fault.bug1 ? undefined : SHARE_DB, left: [`5. ${SHARE_DB}`] });
      // The interrupted command has ended on the host (it went on, or died): what it left, and
      // what the next bg reads in the journal: the step's real outcome, not "unknown".
      await fault.left();
      const status = await run(['status', '--host', 'prod', '--json']);
      expect(JSON.parse(status.stdout)[0].lastRun.lastStep).toMatchObject({ step: 5, outcome: fault.then === 'go' ? 'done' : 'started' });
      if (fault.then === 'go') expect((await run(['status', '--host', 'prod'])).stdout).toContain('interrupted; step 5 done on the host');
      const { rollback } = await recover(runId, 1, { history: i === 0 });
      note('bg rollback', rollback);
      await expectBaseline();
      // Nothing is left under the names a re-run needs (the undo keeps the shared database aside as
      // database-shared.db.rolled-back-RUNID once the apps had run on it, or removes it).
      expect(existsSync(shared())).toBe(false);
      expect(readdirSync(root).filter((f) => f.startsWith('database-shared.db.bg-tmp'))).toEqual([]);
      const keptAside = existsSync(`${shared()}.rolled-back-${runId}`);
      expect(keptAside, 'the shared database is kept aside only if an app ran on it').toBe(fault.then === 'go');
    });
  });

  it('phase2, killed in a backup (before share-db, nothing to undo): exit 1, "rolled back", the lock is left', async () => {
    await expectBaseline(false);
    const { result, runId, logAtKill } = await runWithFault({ args: ['run', 'phase2', '--host', 'prod', '--var', 'base=blue'], gate: { cmd: 'sqlite3', step: '-', args: 'VACUUM INTO .*/green-' }, then: 'go' });
    note('phase2 killed in the backup of GREEN', result);
    expect(logAtKill).not.toContain('"step-start"'); // backups are not journaled: they change nothing to undo
    expect(result.exitCode, result.stderr).toBe(1);
    expect(result.stderr).toContain('"Back up both databases (green)" failed on prod: command lost its connection');
    expect(result.stderr).toContain("the command's outcome on the host is unknown");
    expect(result.stderr).toContain(`prod: rolled back; the host is as it was before run ${runId}`);
    // ... but its lock is still there, and the report says so and how to remove it.
    expect(existsSync(join(journal, 'lock'))).toBe(true);
    expect(result.stderr).toContain('bg: the lock on prod is left');
    expect(result.stderr).toContain('bg unlock --host prod');
    const unlock = await run(['unlock', '--host', 'prod']);
    expect(unlock.stdout).toMatch(/removed the lock of run \S+ .*\(its process is gone\)/);
    const rollback = await run(['rollback', '--host', 'prod']);
    expect(rollback.exitCode).toBe(0);
    expect(rollback.stdout).toContain('has nothing left to undo');
    await expectBaseline();
  });
});

describe('the connection dies in the middle of an env step; bg rollback restores both .env files', () => {
  const env = ['run', 'env', '--host', 'prod', '--var', 'key=ALLOWED_ORIGINS', '--var', 'value=https://new.example'];

  it('env-set of BLUE: the command dies before its rename, leaving .env.bg-tmp; GREEN already set', async () => {
    await expectBaseline(false);
    const { result, runId } = await runWithFault({ args: env, gate: { cmd: 'mv', step: 2, args: '^-f .*BLUE/server/\\.env\\.bg-tmp ' }, then: 'die' });
    note('env killed in env-set blue', result);
    expectConnectionLostReport(result, runId, { failed: 'Set ALLOWED_ORIGINS in the .env of blue', left: ['2. Set ALLOWED_ORIGINS in the .env of blue', '1. Set ALLOWED_ORIGINS in the .env of green'] });
    expect(readFileSync(d.green.envFile, 'utf8')).toMatch(/^ALLOWED_ORIGINS=https:\/\/new\.example$/m);
    expect(existsSync(`${d.blue.envFile}.bg-tmp`)).toBe(true);
    await recover(runId, 2);
    await expectBaseline(); // .env byte-identical, no .env.bg-tmp left
    expect({ blue: await config('blue'), green: await config('green') }).toEqual(baselineConfig);
  });

  it('pm2 restart of BLUE: the restart goes on without bg; the undo restarts both apps on the restored .env', async () => {
    await expectBaseline(false);
    const pids = { blue: await d.pid('blue'), green: await d.pid('green') };
    const { result, runId } = await runWithFault({ args: env, gate: { cmd: 'pm2', step: 4, args: '^restart timetracking-server --update-env$' }, then: 'go' });
    note('env killed in pm2 restart blue', result);
    // Steps 4 and 3 (pm2 restart) are undone by restarting again, after the env-set undos.
    expectConnectionLostReport(result, runId, { failed: 'Restart blue with --update-env', left: ['4. Restart blue with --update-env', '3. Restart green with --update-env', '2. Set ALLOWED_ORIGINS in the .env of blue', '1. Set ALLOWED_ORIGINS in the .env of green'] });
    // The restart happened on the host after bg was gone: both apps run with the new value.
    await d.waitHealthy('blue', { timeoutMs: 15_000, notPid: pids.blue });
    expect({ blue: await config('blue'), green: await config('green') }).toEqual({ blue: 'https://new.example', green: 'https://new.example' });
    await recover(runId, 4);
    await expectBaseline();
    // The undo of each env-set restarted its app (its pids had changed), so both read the restored files.
    expect({ blue: await config('blue'), green: await config('green') }).toEqual(baselineConfig);
  });
});

describe('bg rollback itself loses its connection', () => {
  it('mid-undo of share-db (BLUE put back, GREEN not yet): a second bg rollback finishes it; phase2 then runs again', async () => {
    await expectBaseline(false);
    const done = await run(['run', 'phase2', '--host', 'prod', '--var', 'base=blue']);
    expect(done.exitCode, `${done.stdout}\n${done.stderr}`).toBe(0);
    for (const name of ENVS) expect(realpathSync(d.env(name).db)).toBe(realpathSync(shared()));
    const { result, runId } = await runWithFault({ args: ['rollback', '--host', 'prod'], midStep: false, gate: { cmd: 'mv', step: 5, args: '^-T .*GREEN/server/database\\.db\\.OLD ' }, then: 'die' });
    note('bg rollback killed mid-undo', result);
    expect(result.exitCode, result.stderr).toBe(4); // BUG 3 (fixed): was 5
    expect(result.stderr).toContain('bg: the lock on prod is left');
    expect(result.stderr).toContain('prod: ROLLBACK INCOMPLETE — a person must look.');
    expect(result.stderr).toContain(`Not undone, newest first:\n  5. ${SHARE_DB}\n`);
    expect(lstatSync(d.blue.db).isFile()).toBe(true);
    expect(lstatSync(d.green.db).isSymbolicLink()).toBe(true);
    const { rollback } = await recover(runId, 1);
    note('second bg rollback', rollback);
    await expectBaseline();
    const again = await run(['run', 'phase2', '--host', 'prod', '--var', 'base=blue']);
    expect(again.exitCode, `${again.stdout}\n${again.stderr}`).toBe(0);
    expect((await run(['rollback', '--host', 'prod'])).exitCode).toBe(0);
    await expectBaseline();
  }, 150_000); // five bg commands, two of them phase2 under a real pm2: ~50 s alone
});

describe('bugs found by the fault tests (fixed; the comments say what they were)', () => {
  it('BUG 1: killed during a verify probe that retries, the report names the step and the lost connection', async () => {
    // Was: src/run/step-runner.ts probe(): the probe's exec resolves with exit 255 ("connection lost
    // ... outcome unknown"), the probe retries, and the retry's exec throws ConnectionError
    // ("cannot connect to prod: connection lost ...; no further command was sent"), which replaces
    // the StepFailure: the report names no step, says "cannot connect" although bg was connected
    // and may have changed the host, and drops "the command's outcome on the host is unknown".
    await expectBaseline(false);
    // midStep: false: step 1 is done (the host journals step-done at once) when the read-only probe of step 2 is held.
    const { result, runId } = await runWithFault({ args: ['run', PROBE_PLAYBOOK, '--host', 'prod'], midStep: false, gate: { cmd: 'curl', step: 1, args: '.' }, then: 'go' });
    note('faults-probe killed in the health probe', result);
    try {
      expectConnectionLostReport(result, runId, { left: ['1. Mark GREEN'] });
      expect(result.stderr).toContain('"GREEN answers its health check" failed on prod: verify lost its connection');
      expect(result.stderr).not.toContain('cannot connect to prod');
    } finally {
      await recover(runId, 1);
      await expectBaseline(false);
    }
  });

  it('BUG 3: bg rollback that loses its connection mid-undo exits 4 (rollback incomplete), not 5 (unreachable, nothing changed)', async () => {
    // Was: src/cli/commands/rollback.ts rollbackCommand(): `finally { await lock.release() }` — the
    // release needs the dead connection, HostLock.release() throws ConnectionError, which replaces
    // the ExitCode.rollbackIncomplete being returned; main() maps it to exit 5 and prints
    // "bg: cannot connect to prod: ...". (bg run releases with Promise.allSettled: no such problem.)
    await expectBaseline(false);
    const failed = await run(['run', UNDO_PLAYBOOK, '--host', 'prod', '--no-rollback']);
    expect(failed.exitCode, failed.stderr).toBe(1);
    expect(existsSync(join(d.green.dir, 'FAULT-MARK'))).toBe(true);
    const { result, runId } = await runWithFault({ args: ['rollback', '--host', 'prod'], midStep: false, gate: { cmd: 'mv', step: 1, args: 'FAULT-MARK' }, then: 'die' });
    note('bg rollback killed in an undo', result);
    try {
      expect(result.stderr).toContain('prod: ROLLBACK INCOMPLETE — a person must look.');
      expect(result.exitCode).toBe(4);
      expect(result.stderr).toContain('bg: the lock on prod is left');
    } finally {
      await recover(runId, 1);
      expect(existsSync(join(d.green.dir, 'FAULT-MARK'))).toBe(false);
      await expectBaseline(false);
    }
  });

  it('BUG 2: a bg rollback started while the interrupted command still runs on the host does not race it (freeze)', async () => {
    // Was: the freeze of share-db goes on on the host after the connection died (sshd does not stop
    // it); `bg unlock` removed the lock and `bg rollback` undid the step at once, then the leftover
    // freeze stopped GREEN. Now every changing command records its process in the run's journal,
    // and bg unlock and bg rollback refuse (exit 3) while one of them is alive.
    await expectBaseline(false);
    let rollbackDone: () => void = () => undefined;
    const afterRollback = new Promise<void>((r) => (rollbackDone = r));
    const { result, runId, orphanGone } = await runWithFault({
      args: ['run', SHARE_DB_PLAYBOOK, '--host', 'prod'], // share-db alone, release_timeout 2s: the leftover freeze ends sooner
      gate: { cmd: 'pm2', step: 1, args: '^stop timetracking-green$' },
      then: 'go',
      // Released when the rollback below has finished, or after 30 s (8 s was too short on a loaded machine).
      holdUntil: Promise.race([afterRollback, sleep(30_000)]),
    });
    expectConnectionLostReport(result, runId, { failed: SHARE_DB, left: [`1. ${SHARE_DB}`] });
    try {
      const unlock = await run(['unlock', '--host', 'prod']); // the freeze is still running on the host
      expect(unlock.exitCode, unlock.stderr).toBe(3);
      expect(unlock.stderr).toMatch(/its bg process is gone, but commands of that run still run on prod:\n\s+\d+ /);
      const first = await run(['rollback', '--host', 'prod']);
      note('bg rollback while the interrupted freeze still runs', first);
      expect(first.exitCode, first.stderr).toBe(3);
      expect(first.stderr).toMatch(/still has commands running on prod/);
      rollbackDone();
      await orphanGone;
      const second = await run(['rollback', '--host', 'prod']);
      expect(second.exitCode, second.stderr).toBe(0);
      const green = (await d.jlist()).find((p) => p.name === d.green.app);
      expect(green?.status, 'GREEN after bg rollback said the run was undone').toBe('online');
      await expectBaseline();
    } finally {
      rollbackDone();
      await orphanGone.catch(() => undefined);
      // Put the deployment back for the next tests: both apps online, no lock.
      for (const p of await d.jlist()) if (p.status !== 'online') await d.pm2(['start', p.name]);
      await run(['unlock', '--host', 'prod']);
      await expectAppsHealthy();
    }
  });

  // Last: it adds a row to BLUE.
  it('BUG 2: ... (copy) bg rollback waits for the leftover copy instead of restarting the apps under it', async () => {
    // Was: held at the copy's `.backup`; `bg rollback` ran and started both apps again; then the copy
    // goes on: it writes database-shared.db (a re-run of phase2 now refuses it, and bg rollback says
    // there is nothing left to undo) and runs `rm -f "$db-wal" "$db-shm"` for both envs under the
    // live apps: a write BLUE acknowledges afterwards goes to its deleted WAL, and no new
    // connection (sqlite3, bg's backups, a restarted app) sees it.
    await expectBaseline(false);
    let rollbackDone: () => void = () => undefined;
    const afterRollback = new Promise<void>((r) => (rollbackDone = r));
    const { result, orphanGone } = await runWithFault({
      args: ['run', SHARE_DB_PLAYBOOK, '--host', 'prod'],
      gate: { cmd: 'sqlite3', step: 1, args: '\\.backup ' },
      then: 'go',
      holdUntil: Promise.race([afterRollback, sleep(30_000)]),
    });
    expect(result.exitCode).toBe(4);
    const first = await run(['rollback', '--host', 'prod']);
    note('bg rollback while the interrupted copy still runs', first);
    expect(first.exitCode, first.stderr).toBe(3);
    rollbackDone();
    await orphanGone;
    const second = await run(['rollback', '--host', 'prod']);
    expect(second.exitCode, second.stderr).toBe(0);
    const post = await fetch(d.blue.entries, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ description: 'after-the-rollback', minutes: 1 }) });
    expect(post.status).toBe(201);
    expect(sql(d.blue.db, "SELECT count(*) FROM time_entries WHERE description = 'after-the-rollback'").trim(), 'an acknowledged write, seen by a new connection').toBe('1');
    expect(existsSync(shared()), 'no shared database is left after bg rollback said undone').toBe(false);
    const rerun = await run(['plan', 'phase2', '--host', 'prod', '--var', 'base=blue', '--check']);
    expect(rerun.exitCode, 'pre-flight of a re-run').toBe(0);
  });
});
