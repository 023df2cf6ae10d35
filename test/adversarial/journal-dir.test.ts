// A run.json names the run's directory (plan.journalDir). bg rollback writes its journal lines to
// the directory it read the run from, never to the one run.json names: a hostile or moved journal
// must not send them elsewhere (found by the red-team pass after issue 10).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bg } from '../harness/cli.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { envsYaml, localTarget } from '../e2e/targets.js';

const MARK = `name: mark
steps:
  - name: Mark GREEN
    action: shell
    env: green
    with:
      command: echo x > MARK-dir
      undo: rm -f MARK-dir
`;

describe('bg rollback writes to the run directory it read (local host)', () => {
  let sb: Sandbox;
  const run = (args: string[]) => bg(args, { cwd: sb.root });

  beforeAll(() => {
    sb = makeSandbox('bg-adv-jdir-');
    writeFileSync(join(sb.root, 'hosts.yaml'), `hosts:\n${localTarget.hostYaml('box', envsYaml(sb, 'http://127.0.0.1:1/'))}`);
    writeFileSync(join(sb.root, 'mark.yaml'), MARK);
  });
  afterAll(() => sb.remove());

  it('a run.json whose journalDir points elsewhere: the undo is journaled in the real run directory, nothing is written there', async () => {
    const r = await run(['run', 'mark.yaml', '--host', 'box']);
    expect(r.exitCode, r.stderr).toBe(0);
    const id = /\(run (\S+)\)/.exec(r.stdout)![1]!;
    const dir = join(sb.root, 'journal', 'runs', id);
    const elsewhere = join(sb.root, 'elsewhere');
    const doc = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
    doc.plan.journalDir = elsewhere;
    writeFileSync(join(dir, 'run.json'), JSON.stringify(doc));

    const back = await run(['rollback', '--host', 'box']);
    expect(back.exitCode, back.stderr).toBe(0);
    expect(existsSync(join(sb.green.dir, 'MARK-dir'))).toBe(false);
    expect(existsSync(elsewhere)).toBe(false);
    const events = readFileSync(join(dir, 'log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).event);
    expect(events).toContain('undone');
    expect((await run(['history', '--host', 'box'])).stdout).toMatch(new RegExp(`${id} .*rolled back`));
  });
});
