// Adversarial: signals. A cancelled CI job (SIGINT, then SIGTERM 7.5 s later, then SIGKILL), a
// `timeout` wrapper (SIGTERM), a person pressing Ctrl-C twice, Ctrl-C while waiting for a lock.
// Every case goes through the built CLI against the local host and the project's own sshd, and
// checks the exit code, the journal, the lock, that the step's processes are gone from the host,
// and that undo ran exactly for what ran.
import { execa, type ResultPromise } from 'execa';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bg, BG } from '../harness/cli.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { envsYaml, localTarget, sshTarget, type Target } from '../e2e/targets.js';

// Step 1 changes BLUE; its undo records its shell's pid and waits while a HOLD file exists (the
// test decides how long). Step 2 changes GREEN and sleeps (the step a signal lands in), recording
// its shell's pid too.
const PLAYBOOK = `name: sig
vars: { tag: a, pause: "0" }
steps:
  - name: Mark BLUE
    action: shell
    env: blue
    with:
      command: echo {{ vars.tag }} > MARK-{{ vars.tag }}
      undo: echo $$ > undo1-{{ vars.tag }}.pid && while [ -e HOLD-{{ vars.tag }} ]; do sleep 0.1; done && rm -f MARK-{{ vars.tag }}
  - name: Mark GREEN and wait
    action: shell
    env: green
    with:
      command: echo {{ vars.tag }} > MARK-{{ vars.tag }} && echo $$ > step2-{{ vars.tag }}.pid && sleep {{ vars.pause }}
      undo: rm -f MARK-{{ vars.tag }}
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Live (non-zombie) processes whose process group or session is `pid`: a command's whole tree. */
function treeAlive(pid: number): number[] {
  const alive: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${d}/stat`, 'utf8');
    } catch {
      continue;
    }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // f[0] state, f[2] pgrp, f[3] session
    if (f[0] !== 'Z' && (Number(f[2]) === pid || Number(f[3]) === pid || Number(d) === pid)) alive.push(Number(d));
  }
  return alive;
}

const pidIn = (file: string) => Number(readFileSync(file, 'utf8').trim());

function journalEvents(sb: Sandbox, runId: string): Array<{ event: string; step?: number; detail?: string }> {
  return readFileSync(join(sb.root, 'journal', 'runs', runId, 'log'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { event: string; step?: number; detail?: string });
}

function runIds(sb: Sandbox): string[] {
  const dir = join(sb.root, 'journal', 'runs');
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

const lockDir = (sb: Sandbox) => join(sb.root, 'journal', 'lock');

describe.each([{ target: localTarget as Target }, { target: sshTarget() as Target }])('signals on $target.name', ({ target }) => {
  let sb: Sandbox;
  let env: Record<string, string>;
  let playbook: string;
  beforeAll(async () => {
    await target.setup();
    sb = makeSandbox(`bg-sig-${target.name}-`);
    writeFileSync(join(sb.root, 'hosts.yaml'), `hosts:\n${target.hostYaml('box', envsYaml(sb, 'http://127.0.0.1:1/'))}`);
    playbook = join(sb.root, 'sig.yaml');
    writeFileSync(playbook, PLAYBOOK);
    env = target.env();
  });
  afterAll(async () => {
    sb?.remove();
    await target.teardown();
  });

  const start = (args: string[]): ResultPromise =>
    execa('node', [BG, ...args], { cwd: sb.root, env: { CI: 'true', NO_COLOR: '1', ...env }, reject: false, timeout: 60_000 }) as unknown as ResultPromise;

  it('33: SIGTERM stops the running step (its processes die on the host), rolls back, releases the lock, exits 1', async () => {
    const tag = 'term';
    const child = start(['run', playbook, '--host', 'box', '--var', `tag=${tag}`, '--var', 'pause=30']);
    const pidFile = join(sb.green.dir, `step2-${tag}.pid`);
    await waitFor('step 2 to start', () => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '');
    const stepPid = pidIn(pidFile);
    expect(treeAlive(stepPid).length).toBeGreaterThan(0);
    const t0 = Date.now();
    child.kill('SIGTERM');
    const r = await child;
    const stderr = String(r.stderr);
    expect(r.exitCode, stderr).toBe(1);
    // Well within the 2.5 s GitHub Actions leaves between SIGTERM and SIGKILL, plus process start-up.
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(stderr).toContain('interrupted (SIGTERM)');
    expect(stderr).toMatch(/box: rolled back/);
    expect(treeAlive(stepPid)).toEqual([]);
    expect(existsSync(join(sb.blue.dir, `MARK-${tag}`))).toBe(false);
    expect(existsSync(join(sb.green.dir, `MARK-${tag}`))).toBe(false);
    expect(existsSync(lockDir(sb))).toBe(false);
    const events = journalEvents(sb, runIds(sb).at(-1)!);
    expect(events.filter((e) => e.event === 'undone').map((e) => e.step)).toEqual([2, 1]);
    expect(events.at(-1)).toMatchObject({ event: 'run-end', detail: 'rolled back' });
  });

  it('SIGHUP (the terminal went away) is handled as SIGTERM: the step stops, the run rolls back, the lock is released, exit 1', async () => {
    const tag = 'hup';
    const child = start(['run', playbook, '--host', 'box', '--var', `tag=${tag}`, '--var', 'pause=30']);
    const pidFile = join(sb.green.dir, `step2-${tag}.pid`);
    await waitFor('step 2 to start', () => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '');
    const stepPid = pidIn(pidFile);
    child.kill('SIGHUP');
    const r = await child;
    expect(r.exitCode, String(r.stderr)).toBe(1);
    expect(String(r.stderr)).toContain('interrupted (SIGHUP)');
    expect(treeAlive(stepPid)).toEqual([]);
    expect(existsSync(join(sb.blue.dir, `MARK-${tag}`))).toBe(false);
    expect(existsSync(lockDir(sb))).toBe(false);
    expect(journalEvents(sb, runIds(sb).at(-1)!).at(-1)).toMatchObject({ event: 'run-end', detail: 'rolled back' });
  });

  it('27: a second signal quits at once with exit 4, kills the undo in flight, and names the real host and run id', async () => {
    const tag = 'twice';
    const before = runIds(sb);
    const hold = join(sb.blue.dir, `HOLD-${tag}`);
    writeFileSync(hold, '');
    const child = start(['run', playbook, '--host', 'box', '--var', `tag=${tag}`, '--var', 'pause=30']);
    await waitFor('step 2 to start', () => existsSync(join(sb.green.dir, `step2-${tag}.pid`)));
    child.kill('SIGINT');
    const undoPidFile = join(sb.blue.dir, `undo1-${tag}.pid`);
    await waitFor('the slow undo of step 1 to start', () => existsSync(undoPidFile) && readFileSync(undoPidFile, 'utf8').trim() !== '');
    const undoPid = pidIn(undoPidFile);
    const t0 = Date.now();
    child.kill('SIGINT');
    const r = await child;
    const stderr = String(r.stderr);
    expect(r.exitCode, stderr).toBe(4);
    expect(Date.now() - t0).toBeLessThan(3000);
    const runId = runIds(sb).find((id) => !before.includes(id))!;
    expect(stderr).toContain(`bg rollback --host box --run ${runId}`);
    expect(stderr).toContain('bg unlock --host box');
    expect(stderr).not.toMatch(/--host H\b/);
    // The undo that was running does not go on unattended.
    await waitFor('the killed undo to be gone', () => treeAlive(undoPid).length === 0, 3000);
    expect(existsSync(join(sb.blue.dir, `MARK-${tag}`))).toBe(true);
    // What the message says works: bg rollback takes over the dead run's lock and finishes the job.
    await execa('rm', ['-f', hold]);
    const rb = await bg(['rollback', '--host', 'box', '--run', runId], { cwd: sb.root, env });
    expect(rb.exitCode, rb.stderr).toBe(0);
    expect(existsSync(join(sb.blue.dir, `MARK-${tag}`))).toBe(false);
    expect(existsSync(lockDir(sb))).toBe(false);
  });

  it('32: Ctrl-C while waiting for the lock stops waiting, runs nothing, leaves no lock of its own, exits 3', async () => {
    const tag = 'wait';
    mkdirSync(lockDir(sb), { recursive: true });
    const otherRun = { runId: 'other-run', playbook: 'x', user: 'someone', machine: 'elsewhere', pid: 1, startedAt: new Date().toISOString(), command: 'bg run x' };
    writeFileSync(join(lockDir(sb), 'info.json'), JSON.stringify(otherRun) + '\n');
    const before = runIds(sb);
    const child = start(['run', playbook, '--host', 'box', '--var', `tag=${tag}`, '--lock-wait', '60']);
    await sleep(target.name === 'ssh' ? 2500 : 1500); // connected and polling the lock
    child.kill('SIGINT');
    // The lock frees right after the Ctrl-C: the interrupted run must still not start.
    writeFileSync(join(lockDir(sb), 'info.json'), '');
    await execa('rm', ['-rf', lockDir(sb)]);
    const r = await child;
    expect(r.exitCode, String(r.stderr)).toBe(3);
    expect(String(r.stderr)).toMatch(/nothing ran/);
    expect(existsSync(join(sb.blue.dir, `MARK-${tag}`))).toBe(false);
    expect(existsSync(join(sb.blue.dir, `undo1-${tag}.pid`))).toBe(false);
    expect(runIds(sb)).toEqual(before);
    expect(existsSync(lockDir(sb))).toBe(false);
  });

  it('bg rollback: SIGTERM during the undo finishes it (never halfway), releases the lock, exits 0', async () => {
    const tag = 'rbterm';
    // A run left as it is, to roll back later.
    const left = await bg(['run', playbook, '--host', 'box', '--var', `tag=${tag}`, '--no-rollback'], { cwd: sb.root, env });
    expect(left.exitCode, left.stderr).toBe(0);
    const runId = runIds(sb).at(-1)!;
    const hold = join(sb.blue.dir, `HOLD-${tag}`);
    writeFileSync(hold, '');
    const child = start(['rollback', '--host', 'box', '--run', runId]);
    await waitFor('the undo of step 1 to start', () => existsSync(join(sb.blue.dir, `undo1-${tag}.pid`)));
    child.kill('SIGTERM');
    await sleep(500);
    await execa('rm', ['-f', hold]);
    const r = await child;
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(String(r.stderr)).toContain('finishing the rollback');
    expect(existsSync(join(sb.blue.dir, `MARK-${tag}`))).toBe(false);
    expect(existsSync(join(sb.green.dir, `MARK-${tag}`))).toBe(false);
    expect(existsSync(lockDir(sb))).toBe(false);
  });
});

describe('property: wherever SIGTERM lands in a run, the host ends as it was and no lock is left (local)', () => {
  let sb: Sandbox;
  beforeAll(() => {
    sb = makeSandbox('bg-sig-prop-');
    writeFileSync(join(sb.root, 'hosts.yaml'), `hosts:\n${localTarget.hostYaml('box', envsYaml(sb, 'http://127.0.0.1:1/'))}`);
    writeFileSync(join(sb.root, 'sig.yaml'), PLAYBOOK);
  });
  afterAll(() => sb?.remove());

  it('exit 3 before the run starts, else 1 with a complete rollback (or killed before bg loaded: nothing sent); never a step process left', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 1500 }), async (delayMs) => {
        const tag = `p${n++}`;
        const before = runIds(sb);
        const child = execa('node', [BG, 'run', join(sb.root, 'sig.yaml'), '--host', 'box', '--var', `tag=${tag}`, '--var', 'pause=30'], { cwd: sb.root, env: { CI: 'true', NO_COLOR: '1' }, reject: false, timeout: 60_000 });
        await sleep(delayMs);
        child.kill('SIGTERM');
        const r = await child;
        const started = runIds(sb).filter((id) => !before.includes(id));
        // Before bg has loaded (a few hundred ms) the signal's default action applies: nothing was sent yet.
        if (r.exitCode === undefined) expect(started).toEqual([]);
        else expect([1, 3], String(r.stderr)).toContain(r.exitCode);
        if (r.exitCode === 3) expect(String(r.stderr)).toMatch(/nothing ran/);
        for (const id of started) expect(journalEvents(sb, id).at(-1)).toMatchObject({ event: 'run-end', detail: 'rolled back' });
        expect(existsSync(join(sb.blue.dir, `MARK-${tag}`))).toBe(false);
        expect(existsSync(join(sb.green.dir, `MARK-${tag}`))).toBe(false);
        expect(existsSync(lockDir(sb))).toBe(false);
        const pidFile = join(sb.green.dir, `step2-${tag}.pid`);
        if (existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim()) expect(treeAlive(pidIn(pidFile))).toEqual([]);
      }),
      { numRuns: 6 },
    );
  });
});
