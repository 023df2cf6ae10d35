// Adversarial: the host lock on every exit path (issue 10, defects 31 and 34, and 9 on a real full disk).
// A refused rollback must leave the lock of the run whose commands still run; a full disk while
// the lock or the journal is written must leave no lock and no journal that blocks anything.
// Through the built CLI, on the local host and over the project's own sshd; the full disk is a
// real tmpfs of a few pages mounted over the journal directory.
import { execa } from 'execa';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bg, BG } from '../harness/cli.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { targets } from '../e2e/all-targets.js';
import { envsYaml } from '../e2e/targets.js';

// A var long enough that run.json needs more than one page of the tiny disk.
const PLAYBOOK = `name: locks
vars: { tag: a, pause: "0", pad: "${'p'.repeat(6000)}" }
steps:
  - name: Mark GREEN and wait
    action: shell
    env: green
    with:
      command: echo {{ vars.tag }} > MARK-{{ vars.tag }} && sleep {{ vars.pause }}
      undo: rm -f MARK-{{ vars.tag }}
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(targets())('the host lock on every exit path on the $name host', (target) => {
  let sb: Sandbox;
  let env: Record<string, string>;
  let mounted = false;
  const journal = () => join(sb.root, 'journal');
  const run = (args: string[]) => bg(args, { cwd: sb.root, env });
  const mark = (tag: string) => existsSync(join(sb.green.dir, `MARK-${tag}`));
  const lockLeft = () => readdirSync(journal()).filter((f) => f === 'lock' || f.startsWith('lock.'));

  beforeAll(async () => {
    await target.setup();
    sb = makeSandbox('bg-adv-locks-');
    writeFileSync(join(sb.root, 'hosts.yaml'), `hosts:\n${target.hostYaml('box', envsYaml(sb, 'http://127.0.0.1:1/'))}`);
    writeFileSync(join(sb.root, 'locks.yaml'), PLAYBOOK);
    mkdirSync(journal());
    chmodSync(journal(), 0o777); // the SSH test user writes there too (mkdir's mode is cut by the umask)
    env = target.env();
  });
  afterAll(async () => {
    if (mounted) execFileSync('umount', [journal()]);
    await target.teardown();
    sb.remove();
  });

  it('defect 31: a rollback refused because the killed run still has commands running keeps that run\'s lock', async () => {
    const child = execa('node', [BG, 'run', 'locks.yaml', '--host', 'box', '--var', 'tag=K', '--var', 'pause=60'], { cwd: sb.root, env: { CI: 'true', ...env }, reject: false });
    for (let i = 0; i < 200 && !mark('K'); i++) await sleep(50);
    expect(mark('K')).toBe(true);
    child.kill('SIGKILL');
    await child;
    const info = JSON.parse(readFileSync(join(journal(), 'lock', 'info.json'), 'utf8')) as { runId: string };

    const refused = await run(['rollback', '--host', 'box']);
    expect(refused.exitCode).toBe(3);
    expect(refused.stderr).toMatch(/still has commands running/);
    // The lock is still the killed run's: nothing can start beside its orphan.
    expect(JSON.parse(readFileSync(join(journal(), 'lock', 'info.json'), 'utf8')).runId).toBe(info.runId);
    const beside = await run(['run', 'locks.yaml', '--host', 'box', '--var', 'tag=X']);
    expect(beside.exitCode).toBe(3);
    expect(mark('X')).toBe(false);

    // Stop the orphan (the process groups its commands recorded), then the rollback goes through.
    for (const line of readFileSync(join(journal(), 'runs', info.runId, 'sessions'), 'utf8').split('\n')) {
      const pid = Number(line.split(' ')[0]);
      if (pid > 1) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    const undo = await run(['rollback', '--host', 'box', '--lock-wait', '10']);
    expect(undo.stderr).toBe('');
    expect(undo.exitCode).toBe(0);
    expect(mark('K')).toBe(false);
    expect(lockLeft()).toEqual([]);
  });

  it('defects 34 and 9: a full disk while taking the lock or writing the journal leaves no lock and blocks nothing', async () => {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=1777', 'tmpfs', journal()]);
    mounted = true;
    const a = await run(['run', 'locks.yaml', '--host', 'box', '--var', 'tag=A']);
    expect(a.exitCode, a.stderr).toBe(0);

    // Full: the lock's info cannot be written. No lock is left behind.
    const filler = join(journal(), 'filler');
    execFileSync('sh', ['-c', `dd if=/dev/zero of=${filler} bs=4096 2>/dev/null; true`]);
    const full = await run(['run', 'locks.yaml', '--host', 'box', '--var', 'tag=B']);
    expect(full.exitCode).not.toBe(0);
    expect(full.exitCode).not.toBe(3);
    expect(full.stderr).toMatch(/cannot take the lock on box/);
    expect(lockLeft()).toEqual([]);
    expect(mark('B')).toBe(false);

    // Two pages free: the lock fits, run.json does not. The run stops before its first step.
    truncateSync(filler, readFileSync(filler).length - 8192);
    const half = await run(['run', 'locks.yaml', '--host', 'box', '--var', 'tag=C']);
    expect(half.exitCode).toBe(1);
    expect(half.stderr).toMatch(/cannot write the journal on box/);
    expect(mark('C')).toBe(false);
    expect(lockLeft()).toEqual([]);
    const history = await run(['history', '--host', 'box']);
    expect(history.stdout).toMatch(/no journal \(nothing ran\)/);

    // With space again, nothing is blocked: the earlier run rolls back, a new run starts.
    rmSync(filler);
    const undo = await run(['rollback', '--host', 'box']);
    expect(undo.exitCode, undo.stderr).toBe(0);
    expect(undo.stdout).toContain(`undo run ${/\(run (\S+)\)/.exec(a.stdout)?.[1]}`);
    expect(mark('A')).toBe(false);
    const next = await run(['run', 'locks.yaml', '--host', 'box', '--var', 'tag=D']);
    expect(next.exitCode, next.stderr).toBe(0);
    expect(mark('D')).toBe(true);
  });
});
