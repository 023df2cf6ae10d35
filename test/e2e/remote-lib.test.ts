// The remote library on a real host (local, and over SSH to the test sshd): installed once per
// hash under JOURNAL/lib, named in run.json, and used by `bg rollback` of the run that recorded it.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bg } from '../harness/cli.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { library } from '../../src/remote/library.js';
import { targets } from './all-targets.js';
import { envsYaml } from './targets.js';

const PLAYBOOK = new URL('../fixtures/playbooks/e2e-journal.yaml', import.meta.url).pathname;
const BACKUP = `name: backup\nsteps:\n  - { name: Back up BLUE, action: backup, env: blue }\n  - { name: Link, action: symlink, env: green, with: { link: current, target: "-odd target" } }\n`;

describe.each(targets())('the remote library on the $name host', (target) => {
  let sb: Sandbox;
  let env: Record<string, string>;
  const run = (args: string[]) => bg(args, { cwd: sb.root, env });
  const libDir = () => join(sb.root, 'journal', 'lib');
  const hash = library().hash;

  beforeAll(async () => {
    await target.setup();
    sb = makeSandbox('bg-remote-lib-');
    writeFileSync(join(sb.root, 'hosts.yaml'), `hosts:\n${target.hostYaml('box', envsYaml(sb, 'http://127.0.0.1:1/'))}`);
    writeFileSync(join(sb.root, 'backup.yaml'), BACKUP);
    env = target.env();
  });
  afterAll(async () => {
    await target.teardown();
    sb.remove();
  });

  it('a read-only command installs the library once, by its sha256, checked on the host', async () => {
    expect(existsSync(libDir())).toBe(false);
    const status = await run(['status', '--host', 'box']);
    expect(status.exitCode, status.stderr).toBe(0);
    expect(readdirSync(libDir())).toEqual([`${hash}.sh`]);
    const text = readFileSync(join(libDir(), `${hash}.sh`));
    expect(createHash('sha256').update(text).digest('hex')).toBe(hash);
  });

  it('a run calls library functions, records the hash in run.json, and arguments arrive as data', async () => {
    const r = await run(['run', 'backup.yaml', '--host', 'box', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const runs = readdirSync(join(sb.root, 'journal', 'runs'));
    const doc = JSON.parse(readFileSync(join(sb.root, 'journal', 'runs', runs[0]!, 'run.json'), 'utf8'));
    expect(doc.plan.library).toEqual({ hash });
    expect(doc.plan.steps[0].run[0].cmd).toMatch(/^bg_backup /);
    expect(readdirSync(join(sb.root, 'backups')).some((f) => /^blue-.*\.db\.verified$/.test(f))).toBe(true);
    // A target starting with `-` is stored as written, never read as an option.
    const { readlinkSync } = await import('node:fs');
    expect(readlinkSync(join(sb.green.dir, 'current'))).toBe('-odd target');
  });

  it('bg rollback reinstalls its own library when it is gone, and refuses a library it does not have', async () => {
    const failed = await run(['run', PLAYBOOK, '--host', 'box', '--var', 'tag=lib', '--var', 'fail=yes', '--no-rollback']);
    expect(failed.exitCode).toBe(1);
    const id = /bg rollback --host box --run (\S+)/.exec(failed.stderr)![1]!;
    const runJson = join(sb.root, 'journal', 'runs', id, 'run.json');

    // The run's library is of another bg version and not on the host: refused, nothing undone.
    const original = readFileSync(runJson, 'utf8');
    const other = 'f'.repeat(64);
    writeFileSync(runJson, original.replace(`"hash": "${hash}"`, `"hash": "${other}"`));
    const refused = await run(['rollback', '--host', 'box', '--run', id]);
    expect(refused.exitCode).toBe(4);
    expect(refused.stderr).toContain(`the remote library sha256:${other} that this run used is not on box`);
    expect(existsSync(join(sb.green.dir, 'MARK-lib'))).toBe(true);

    // Its own library, deleted from the host: put back (same hash), and the undo runs.
    writeFileSync(runJson, original);
    rmSync(libDir(), { recursive: true, force: true });
    const undo = await run(['rollback', '--host', 'box', '--run', id]);
    expect(undo.exitCode, undo.stderr).toBe(0);
    expect(existsSync(join(sb.green.dir, 'MARK-lib'))).toBe(false);
    expect(readdirSync(libDir())).toEqual([`${hash}.sh`]);
  });
});
