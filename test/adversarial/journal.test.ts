// Adversarial: journal framing and the order of runs (issue 10, defects 8 and 11).
// User values end up in the journal on the host (vars, playbook and step names); reading the
// journal back must never split on them. Runs are ordered by the host's own sequence, not by the
// clock of the machine that started them. Through the built CLI, on the local host and over the
// project's own sshd.
import fc from 'fast-check';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bg } from '../harness/cli.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { targets } from '../e2e/all-targets.js';
import { envsYaml } from '../e2e/targets.js';

const playbook = (name: string) => `name: ${JSON.stringify(name)}
vars: { tag: a, who: nobody }
steps:
  - name: ${JSON.stringify(`Mark ${name}`)}
    action: shell
    env: green
    with:
      command: printf '%s' {{ vars.who }} > WHO-{{ vars.tag }} && echo {{ vars.tag }} > MARK-{{ vars.tag }}
      undo: rm -f MARK-{{ vars.tag }} WHO-{{ vars.tag }}
`;

// Loaded with --import into the bg process: its clock runs an hour slow (a CI runner with a bad clock).
const SLOW_CLOCK = `const real = Date;
const shift = 3600 * 1000;
globalThis.Date = class extends real {
  constructor(...a) { if (a.length === 0) super(real.now() - shift); else super(...a); }
  static now() { return real.now() - shift; }
};
`;

describe.each(targets())('journal framing and run order on the $name host', (target) => {
  let sb: Sandbox;
  let env: Record<string, string>;
  const run = (args: string[], extraEnv: Record<string, string> = {}) => bg(args, { cwd: sb.root, env: { ...env, ...extraEnv } });
  const history = async () => JSON.parse((await run(['history', '--host', 'box', '--json', '--limit', '1000'])).stdout) as Array<{ run: string; playbook: string; outcome: string }>;
  const runId = (stdout: string) => /\(run (\S+)\)/.exec(stdout)?.[1] ?? '';

  beforeAll(async () => {
    await target.setup();
    sb = makeSandbox('bg-adv-journal-');
    writeFileSync(join(sb.root, 'hosts.yaml'), `hosts:\n${target.hostYaml('box', envsYaml(sb, 'http://127.0.0.1:1/'))}`);
    writeFileSync(join(sb.root, 'slow-clock.mjs'), SLOW_CLOCK);
    env = target.env();
  });
  afterAll(async () => {
    await target.teardown();
    sb.remove();
  });

  it('defect 8: `@@log` in a --var and `@@run ` in a playbook name are data: history and rollback read every run', async () => {
    writeFileSync(join(sb.root, 'plain.yaml'), playbook('plain'));
    writeFileSync(join(sb.root, 'forge.yaml'), playbook('x@@run 20991231T000000Z-ff\n@@log\n{"t":"2099","event":"run-end","detail":"done"}'));
    const first = await run(['run', 'plain.yaml', '--host', 'box', '--var', 'tag=first']);
    expect(first.exitCode).toBe(0);
    const hostile = await run(['run', 'forge.yaml', '--host', 'box', '--var', 'tag=second', '--var', 'who=team@@logistics\n@@log\n@@run 20000101T000000Z-0']);
    expect(hostile.exitCode).toBe(0);
    const rows = await history();
    expect(rows.map((r) => r.run)).toEqual([runId(first.stdout), runId(hostile.stdout)]);
    expect(rows[1]!.playbook).toContain('x@@run 20991231T000000Z-ff');
    // The hostile run and the one before it both roll back.
    const undo = await run(['rollback', '--host', 'box']);
    expect(undo.stderr).toBe('');
    expect(undo.exitCode).toBe(0);
    expect(existsSync(join(sb.green.dir, 'MARK-second'))).toBe(false);
    const undoFirst = await run(['rollback', '--host', 'box', '--run', runId(first.stdout)]);
    expect(undoFirst.exitCode).toBe(0);
    expect(existsSync(join(sb.green.dir, 'MARK-first'))).toBe(false);
  });

  it('defect 8, property: any value in a var and in the playbook name arrives as data and reads back', async () => {
    const marker = fc.constantFrom('@@log', '@@run ', '\n', '{"t":"', '"}', '\\n', '%s', "'", '$(id)', 'bg-0123', ' + ', ' - ', ' ! ', '\r');
    const text = fc.array(fc.oneof(marker, fc.string({ maxLength: 6 })), { minLength: 1, maxLength: 6 }).map((a) => a.join(''));
    let n = 0;
    await fc.assert(
      fc.asyncProperty(text, text, async (who, name) => {
        const tag = `p${n++}`;
        writeFileSync(join(sb.root, 'prop.yaml'), playbook(`p ${name}`));
        const before = (await history()).length;
        const r = await run(['run', 'prop.yaml', '--host', 'box', '--var', `tag=${tag}`, '--var', `who=${who}`]);
        if (r.exitCode === 2) return; // refused as bad input before anything ran: fine (e.g. a control character)
        expect(r.exitCode, r.stderr).toBe(0);
        expect(readFileSync(join(sb.green.dir, `WHO-${tag}`), 'utf8')).toBe(who);
        const rows = await history();
        expect(rows.length).toBe(before + 1);
        expect(rows.at(-1)!.run).toBe(runId(r.stdout));
        expect(rows.at(-1)!.outcome).toBe('done');
        const undo = await run(['rollback', '--host', 'box']);
        expect(undo.exitCode, undo.stderr).toBe(0);
        expect(existsSync(join(sb.green.dir, `MARK-${tag}`))).toBe(false);
      }),
      { numRuns: 5 },
    );
  });

  it('defect 11: a later run from a machine whose clock is an hour slow is still the later run', async () => {
    writeFileSync(join(sb.root, 'plain.yaml'), playbook('plain'));
    const a = await run(['run', 'plain.yaml', '--host', 'box', '--var', 'tag=A']);
    expect(a.exitCode).toBe(0);
    const b = await run(['run', 'plain.yaml', '--host', 'box', '--var', 'tag=B'], { NODE_OPTIONS: `--import=${join(sb.root, 'slow-clock.mjs')}` });
    expect(b.exitCode, b.stderr).toBe(0);
    const idA = runId(a.stdout);
    const idB = runId(b.stdout);
    expect(idB < idA).toBe(true); // B's id carries the slow clock: it sorts first by name
    // The host's order: A, then B.
    const ids = (await history()).map((r) => r.run);
    expect(ids.indexOf(idA)).toBeLessThan(ids.indexOf(idB));
    // Undoing A underneath B is refused; the default target is B.
    const refused = await run(['rollback', '--host', 'box', '--run', idA]);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain(`later runs built on it: ${idB}`);
    expect(existsSync(join(sb.green.dir, 'MARK-A'))).toBe(true);
    const undo = await run(['rollback', '--host', 'box']);
    expect(undo.exitCode).toBe(0);
    expect(undo.stdout).toContain(`undo run ${idB}`);
    expect(existsSync(join(sb.green.dir, 'MARK-B'))).toBe(false);
    expect((await run(['rollback', '--host', 'box', '--run', idA])).exitCode).toBe(0);
    expect(existsSync(join(sb.green.dir, 'MARK-A'))).toBe(false);
  });
});
