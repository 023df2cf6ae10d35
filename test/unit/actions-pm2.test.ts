import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { oneStep, plan, problems, runStep, undoStep } from './actions-helpers.js';
import { fakePm2Daemon } from './fake-pm2-daemon.js';

const FAKE_PM2 = new URL('../fixtures/phases/fake-pm2', import.meta.url).pathname;
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

interface FakeApp {
  name: string;
  pid: number;
  status: string;
  restarts: number;
  crash?: boolean;
  env?: string;
}

/** A local host whose `pm2` is test/fixtures/phases/fake-pm2/pm2 over a state file. */
function fake(apps: FakeApp[]) {
  const dir = mkdtempSync(join(tmpdir(), 'bg-pm2-'));
  dirs.push(dir);
  const state = join(dir, 'pm2.json');
  writeFileSync(state, JSON.stringify(apps));
  const inventory = `hosts:\n  box:\n    local: true\n    journal: ${dir}/journal\n    path: [${FAKE_PM2}]\n    environment: { FAKE_PM2_STATE: ${state}, PM2_HOME: ${fakePm2Daemon(dir)} }\n    envs:\n      blue: { dir: ${dir}, app: web }\n`;
  const step = (w: string) => plan(oneStep('pm2', `env: blue\nwith: ${w}`), { host: 'box', inventory }).steps[0]!;
  const read = () => JSON.parse(readFileSync(state, 'utf8')) as FakeApp[];
  return { step, read };
}

describe('pm2 plan', () => {
  it('restart with --update-env: pm2 state captured, online with a new pid, then stable; undone by another restart, last', () => {
    const s = plan(oneStep('pm2', 'env: blue\nwith: { op: restart, update_env: true }')).steps[0]!;
    const sd = '"$HOME"/.bg/runs/20261121T120000Z-abcd/steps/1';
    expect(s.capture.map((c) => c.cmd)).toEqual([`bg_pm2_capture ${sd} timetracking-server`]);
    expect(s.run.map((c) => c.cmd)).toEqual(['bg_pm2_op restart timetracking-server --update-env']);
    expect(s.verify.map((c) => c.cmd)).toEqual([`bg_pm2_check_restarted ${sd} timetracking-server`, 'bg_pm2_check_stable timetracking-server 2']);
    expect(s.verify[0]!.retry).toEqual({ attempts: 60, intervalMs: 500, factor: 1, maxIntervalMs: 500 });
    // Undone by restarting again after the other undos, unless one of them restarted it already.
    expect(s.undoLast).toBe(true);
    expect(s.undo.map((c) => c.cmd)).toEqual([`bg_pm2_undo_restart ${sd} timetracking-server 30 --update-env`]);
    expect(s).toMatchObject({ mutates: true });
  });

  it('stop is undone by start, start by stop', () => {
    const stop = plan(oneStep('pm2', 'env: green\nwith: { op: stop }')).steps[0]!;
    expect(stop.run[0]!.cmd).toBe('bg_pm2_op stop timetracking-green');
    expect(stop.verify.map((c) => c.cmd)).toEqual(['bg_pm2_check_stopped timetracking-green']);
    expect(stop.undo[0]!.cmd).toMatch(/^bg_pm2_undo_stop \S+ timetracking-green 30$/);
    const start = plan(oneStep('pm2', 'env: green\nwith: { op: start, stable_for: 0 }')).steps[0]!;
    expect(start.verify).toHaveLength(1);
    expect(start.undo[0]!.cmd).toMatch(/^bg_pm2_undo_start \S+ timetracking-green$/);
  });

  it('quotes the app name', () => {
    const s = plan(oneStep('pm2', 'env: blue\nwith: { app: "x; rm -rf /" }')).steps[0]!;
    expect(s.run[0]!.cmd).toBe("bg_pm2_op restart 'x; rm -rf /'");
  });

  it('reports an env without app, an unknown op, and update_env with stop', () => {
    expect(problems(oneStep('pm2', 'env: blue'), { host: 'box' })).toEqual([expect.stringMatching(/env: env `blue` has no `app` \(pm2 name\) in the inventory/)]);
    expect(problems(oneStep('pm2', 'env: blue\nwith: { op: explode }'))).toEqual([expect.stringMatching(/with\.op: /)]);
    expect(problems(oneStep('pm2', 'env: blue\nwith: { op: stop, update_env: true }'))).toEqual([expect.stringMatching(/with\.update_env: `update_env` does not apply/)]);
  });
});

describe('pm2 verify and undo through a real sh (a stand-in pm2)', () => {
  const app = (o: Partial<FakeApp> = {}): FakeApp => ({ name: 'web', pid: 500, status: 'online', restarts: 0, ...o });

  it('restart: passes once the app is online with a new pid and stays up', () => {
    const { step, read } = fake([app(), app({ name: 'other', pid: 600 })]);
    expect(runStep(step('{ op: restart, update_env: true, stable_for: 300ms }'))).toMatchObject({ code: 0, phase: 'done' });
    expect(read()[0]).toMatchObject({ status: 'online', restarts: 1, env: 'updated' });
    expect(read()[1]).toMatchObject({ pid: 600 });
  });

  it('restart: fails when the restart count climbs (a crash loop)', () => {
    const { step } = fake([app({ crash: true })]);
    const r = runStep(step('{ op: restart, stable_for: 300ms }'));
    expect(r).toMatchObject({ code: 1, phase: 'verify' });
    expect(r.stderr).toMatch(/web did not stay up: within 0\.3 s pm2 went from \[\d+ online \d+\] to \[\d+ online \d+\]/);
  });

  it('stop: verified stopped; undo starts it again (it was online)', () => {
    const { step, read } = fake([app()]);
    const s = step('{ op: stop }');
    expect(runStep(s)).toMatchObject({ code: 0 });
    expect(read()[0]).toMatchObject({ status: 'stopped', pid: 0 });
    expect(undoStep(s)).toMatchObject({ code: 0, stdout: expect.stringContaining('started web again') });
    expect(read()[0]!.status).toBe('online');
  });

  it('stop of an app that was already stopped: undo leaves it stopped', () => {
    const { step, read } = fake([app({ status: 'stopped', pid: 0 })]);
    const s = step('{ op: stop }');
    expect(runStep(s)).toMatchObject({ code: 0 });
    expect(undoStep(s).stdout).toContain('was not online before');
    expect(read()[0]!.status).toBe('stopped');
  });

  it('start: undo stops it again only if it was not online before', () => {
    const stopped = fake([app({ status: 'stopped', pid: 0 })]);
    const s = stopped.step('{ op: start, stable_for: 0 }');
    expect(runStep(s)).toMatchObject({ code: 0 });
    expect(undoStep(s).code).toBe(0);
    expect(stopped.read()[0]!.status).toBe('stopped');
    const online = fake([app()]);
    const t = online.step('{ op: start, stable_for: 0 }');
    expect(runStep(t)).toMatchObject({ code: 0 });
    expect(undoStep(t).stdout).toContain('nothing to undo');
    expect(online.read()[0]!.status).toBe('online');
  });

  it('refuses an app pm2 does not know, before changing anything', () => {
    const { step } = fake([app({ name: 'something-else' })]);
    const r = runStep(step('{ op: restart }'));
    expect(r).toMatchObject({ code: 1, phase: 'capture' });
    expect(r.stderr).toContain('pm2 knows no app named web');
  });
});
