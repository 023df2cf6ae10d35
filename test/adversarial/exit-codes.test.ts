/**
 * Adversarial: exit codes (issue 10, defects 13, 14, 17, 21, 22). Every outcome maps to the
 * contract: 0 done, 1 failed and rolled back (host really as before), 2 bad input, 3 locked,
 * 4 rollback incomplete, 5 unreachable, 70 a bug in bg. Never 0 after a failure.
 * Through the built CLI on the `local` host with a real sandbox (sqlite3 databases, files).
 */
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bg } from '../harness/cli.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { localTarget, envsYaml } from '../e2e/targets.js';
import { ExitCode, formatInternalError, BgError } from '../../src/errors.js';
import { executeRuns, type HostRun } from '../../src/run/executor.js';
import type { Transport } from '../../src/transport/transport.js';
import type { Plan } from '../../src/plan/types.js';

let sb: Sandbox;
const run = (args: string[], env: Record<string, string> = {}) => bg(args, { cwd: sb.root, env });
const pb = (name: string, text: string) => {
  const file = join(sb.root, 'pb', `${name}.yaml`);
  writeFileSync(file, text);
  return file;
};
const noStack = (s: string) => expect(s).not.toMatch(/\n\s+at .+:\d+:\d+\)?/);

beforeAll(() => {
  sb = makeSandbox('bg-adv-exit-');
  mkdirSync(join(sb.root, 'pb'));
  const body = envsYaml(sb, 'http://127.0.0.1:1/');
  writeFileSync(join(sb.root, 'hosts.yaml'), `hosts:\n${localTarget.hostYaml('box', body)}${localTarget.hostYaml('box2', body.replace(`${sb.root}/journal`, `${sb.root}/journal2`))}`);
});
afterAll(() => sb.remove());

const NO_UNDO = `name: no-undo
steps:
  - name: Touch a marker
    action: shell
    env: blue
    with:
      command: touch NO-UNDO-MARK
  - name: Fail
    action: shell
    env: blue
    with:
      command: "false"
      undo: "true"
`;
const ALL_UNDO = `name: all-undo
steps:
  - name: Touch a marker
    action: shell
    env: blue
    with:
      command: touch UNDO-MARK
      undo: rm -f UNDO-MARK
  - name: Fail
    action: shell
    env: blue
    with:
      command: "false"
      undo: "true"
`;
const OK = `name: ok
steps:
  - name: Say hi
    action: shell
    env: blue
    with:
      command: echo hi
      mutates: false
`;

describe('defect 13: a rollback that skipped a changing step without undo', () => {
  it('exits 4 and lists the step that was not undone, with why; never "the host is as it was"', async () => {
    const r = await run(['run', pb('no-undo', NO_UNDO), '--host', 'box']);
    expect(r.exitCode, r.stderr).toBe(ExitCode.rollbackIncomplete);
    expect(r.stderr).toContain('ROLLBACK INCOMPLETE');
    expect(r.stderr).toMatch(/1\. Touch a marker \(no `undo:` given/);
    expect(r.stderr).not.toContain('the host is as it was');
    expect(existsSync(join(sb.blue.dir, 'NO-UNDO-MARK'))).toBe(true);
  });

  it('exits 1 with "as it was" only when every changing step was undone', async () => {
    const r = await run(['run', pb('all-undo', ALL_UNDO), '--host', 'box']);
    expect(r.exitCode, r.stderr).toBe(ExitCode.stepFailed);
    expect(r.stderr).toContain('the host is as it was');
    expect(existsSync(join(sb.blue.dir, 'UNDO-MARK'))).toBe(false);
  });

  it('bg plan and bg validate warn at file:line about a changing step without undo, and still exit 0', async () => {
    const file = pb('no-undo', NO_UNDO);
    const plan = await run(['plan', file, '--host', 'box']);
    expect(plan.exitCode, plan.stderr).toBe(0);
    expect(plan.stderr).toMatch(/warning: .*no-undo\.yaml:3:\d+: .*"Touch a marker" changes the host and has no `undo:`/);
    const v = await run(['validate', file]);
    expect(v.exitCode, v.stderr).toBe(0);
    expect(v.stderr).toMatch(/warning: .*no-undo\.yaml:3:\d+/);
  });
});

describe('defect 14: an exception inside a host run is never exit 0', () => {
  const plan = (host: string): Plan =>
    ({ version: 1, runId: `r-${host}`, playbook: { name: 'p', file: 'p.yaml' }, host: { name: host, transport: 'local', target: 'this machine' }, journalDir: '/nonexistent', vars: {}, secrets: {}, preflight: [{ cmd: 'true', label: 'check' }], gates: [], steps: [] }) as Plan;
  const throwing = (host: string, err: Error): Transport =>
    ({ kind: 'local', host, connect: async () => undefined, close: async () => undefined, exec: async () => { throw err; } }) as unknown as Transport;
  const hostRun = (host: string, err: Error): HostRun => ({ plan: plan(host), meta: {} as HostRun['meta'], transport: throwing(host, err) });

  it('a bug (TypeError) in pre-flight gives 70; a later batch is not started and not 0 either', async () => {
    const outcomes = await executeRuns([hostRun('a', new TypeError('boom')), hostRun('b', new TypeError('boom'))], { renderer: 'silent', emit: () => undefined, batchSize: 1 });
    expect(outcomes[0]!.exitCode).toBe(ExitCode.internal);
    expect(outcomes[0]!.failure?.message).toContain('internal error: boom');
    expect(outcomes[1]!.status).toBe('not-started');
    expect(outcomes[1]!.exitCode).not.toBe(ExitCode.ok);
  });

  it('a known error (BgError) keeps its own exit code', async () => {
    const [o] = await executeRuns([hostRun('a', new BgError('gone', ExitCode.unreachable))], { renderer: 'silent', emit: () => undefined });
    expect(o!.exitCode).toBe(ExitCode.unreachable);
  });

  it('the internal-error line: one line, the stack only with BG_DEBUG=1', () => {
    const e = new TypeError('x is not a function');
    expect(formatInternalError(e, {})).toBe('bg: internal error: x is not a function (a bug in bg; BG_DEBUG=1 shows the stack)\n');
    expect(formatInternalError(e, { BG_DEBUG: '1' })).toContain('at ');
  });

  it('--help documents exit code 70', async () => {
    const r = await run(['--help']);
    expect(r.stdout).toMatch(/70 +internal error/);
  });
});

describe('defect 17 and 22: flags repeated, or not the number they declare', () => {
  it('--host a --host b works as --host a,b', async () => {
    const r = await run(['plan', pb('ok', OK), '--host', 'box', '--host', 'box2', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).map((p: Plan) => p.host.name)).toEqual(['box', 'box2']);
  });

  for (const args of [
    ['--serial', 'abc'],
    ['--serial', '0'],
    ['--serial', '1.5'],
    ['--lock-wait', 'abc'],
    ['--lock-wait', '-1'],
    ['--lock-wait', '1e400'],
    ['--lock-wait', '99999999999'],
    ['--serial', '1', '--serial', '2'],
    ['-i', 'hosts.yaml', '-i', 'other.yaml'],
  ])
    it(`bg run ${args.join(' ')}: exit 2 naming the flag, nothing runs`, async () => {
      const before = sb.checksum();
      const r = await run(['run', pb('ok', OK), '--host', 'box', ...args]);
      expect(r.exitCode, r.stderr).toBe(ExitCode.badInput);
      expect(r.stderr).toMatch(/^bg: --(serial|lock-wait|inventory) /);
      noStack(r.stderr);
      expect(sb.checksum()).toBe(before);
    });

  it('bg history --limit abc: exit 2', async () => {
    const r = await run(['history', '--host', 'box', '--limit', 'abc']);
    expect(r.exitCode, r.stderr).toBe(ExitCode.badInput);
    expect(r.stderr).toContain('--limit');
  });
});

describe('defect 21: the step summary cannot change the exit code', () => {
  it('an unwritable $GITHUB_STEP_SUMMARY: a success stays 0, with a warning', async () => {
    const r = await run(['run', pb('ok', OK), '--host', 'box'], { GITHUB_STEP_SUMMARY: sb.root });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain('cannot write the step summary');
  });

  it('and a real 4 stays 4', async () => {
    const r = await run(['run', pb('no-undo', NO_UNDO), '--host', 'box'], { GITHUB_STEP_SUMMARY: join(sb.root, 'no', 'such', 'dir', 'summary.md') });
    expect(r.exitCode, r.stderr).toBe(ExitCode.rollbackIncomplete);
    expect(r.stderr).toContain('cannot write the step summary');
  });
});
