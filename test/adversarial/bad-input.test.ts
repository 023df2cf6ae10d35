/**
 * Adversarial: bad input (issue 10, defects 16, 20, 23, 25, 29, 30). Bad input gets exit 2, one
 * message naming the file (and line) or the host, no stack trace, and no change anywhere.
 * Through the built CLI; random argv through validate/plan with fast-check.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bg } from '../harness/cli.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { localTarget, envsYaml } from '../e2e/targets.js';

let sb: Sandbox;
const run = (args: string[], cwd = sb.root, env: Record<string, string> = {}) => bg(args, { cwd, env });
const write = (rel: string, text: string) => {
  const file = join(sb.root, rel);
  writeFileSync(file, text);
  return file;
};
const noStack = (s: string) => {
  expect(s).not.toMatch(/\n\s+at .+:\d+:\d+\)?/);
  expect(s).not.toContain('internal error');
};

const OK = `name: ok
steps:
  - name: Say hi
    action: shell
    env: blue
    with:
      command: echo hi
      mutates: false
`;

beforeAll(() => {
  sb = makeSandbox('bg-adv-input-');
  mkdirSync(join(sb.root, 'pb'));
  writeFileSync(join(sb.root, 'hosts.yaml'), `hosts:\n${localTarget.hostYaml('box', envsYaml(sb, 'http://127.0.0.1:1/'))}`);
  write('pb/ok.yaml', OK);
});
afterAll(() => sb.remove());

describe('defect 16: a YAML alias bomb', () => {
  const bomb = ['hosts:', '  a: &a [x,x,x,x,x,x,x,x,x,x]', ...'bcdefgh'.split('').map((c, i) => `  ${c}: &${c} [${Array(10).fill(`*${'abcdefgh'[i]}`).join(',')}]`)].join('\n') + '\n';

  it('as inventory: exit 2 at file:line, no stack', async () => {
    const file = write('bomb.yaml', bomb);
    for (const args of [['plan', 'pb/ok.yaml', '--host', 'box', '-i', file], ['validate', file], ['status', '--host', 'box', '-i', file]]) {
      const r = await run(args);
      expect(r.exitCode, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/bomb\.yaml:3:\d+: cannot read the YAML: Excessive alias count/);
      noStack(r.stderr);
    }
  });

  it('as playbook: exit 2 at file:line', async () => {
    const file = write('pb/bomb.yaml', bomb.replace('hosts:', 'name: b\nsteps: []\nx:'));
    const r = await run(['plan', file, '--host', 'box']);
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/bomb\.yaml:\d+:\d+: cannot read the YAML/);
    noStack(r.stderr);
  });
});

describe('defect 20: a directory, FIFO, dangling link or unreadable file as an input', () => {
  // Outside the sandbox: its checksum reads every file, and reading a FIFO blocks.
  let odd = '';
  beforeAll(() => {
    odd = mkdtempSync(join(tmpdir(), 'bg-adv-odd-'));
    mkdirSync(join(odd, 'dir.yaml'));
    execFileSync('mkfifo', [join(odd, 'fifo.yaml')]);
    symlinkSync(join(odd, 'nowhere.yaml'), join(odd, 'dangling.yaml'));
  });
  afterAll(() => rmSync(odd, { recursive: true, force: true }));

  for (const name of ['dir.yaml', 'fifo.yaml'])
    it(`${name} as inventory and as playbook: exit 2 naming it`, async () => {
      const before = sb.checksum();
      const inv = await run(['plan', join(sb.root, 'pb/ok.yaml'), '--host', 'box', '-i', name], odd);
      expect(inv.exitCode, inv.stderr).toBe(2);
      expect(inv.stderr).toContain(`${name}: the inventory is`);
      noStack(inv.stderr);
      const play = await run(['run', name, '--host', 'box', '-i', join(sb.root, 'hosts.yaml')], odd);
      expect(play.exitCode, play.stderr).toBe(2);
      expect(play.stderr).toContain(`${name}: the playbook is`);
      noStack(play.stderr);
      const v = await run(['validate', name], odd);
      expect(v.exitCode, v.stderr).toBe(2);
      expect(v.stderr).toContain(name);
      expect(sb.checksum()).toBe(before);
    });

  it('a dangling link as inventory: exit 2', async () => {
    const r = await run(['plan', join(sb.root, 'pb/ok.yaml'), '--host', 'box', '-i', 'dangling.yaml'], odd);
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toContain('dangling.yaml');
    noStack(r.stderr);
  });

  it.skipIf(process.getuid?.() === 0)('an unreadable playbook: exit 2 naming it', async () => {
    const file = write('pb/secret.yaml', OK);
    execFileSync('chmod', ['000', file]);
    const r = await run(['plan', file, '--host', 'box']);
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toContain('permission denied');
  });
});

describe('defect 23: bg init', () => {
  const fresh = (name: string) => {
    const dir = join(sb.root, 'init', name);
    mkdirSync(dir, { recursive: true });
    return dir;
  };

  it('bg init -- DIR writes into DIR, not here', async () => {
    const here = fresh('dashdash');
    const r = await run(['init', '--', '-odd dir'], here);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(existsSync(join(here, '-odd dir', 'hosts.yaml'))).toBe(true);
    expect(existsSync(join(here, 'hosts.yaml'))).toBe(false);
  });

  it('a dangling hosts.yaml symlink is not followed: exit 2, nothing written anywhere', async () => {
    const here = fresh('dangling');
    const target = join(sb.root, 'init', 'dangling-target.yaml');
    symlinkSync(target, join(here, 'hosts.yaml'));
    const r = await run(['init'], here);
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toContain('hosts.yaml exists already');
    expect(existsSync(target)).toBe(false);
    expect(readdirSync(here)).toEqual(['hosts.yaml']);
    expect(lstatSync(join(here, 'hosts.yaml')).isSymbolicLink()).toBe(true);
  });

  it('a file where playbooks/ goes: exit 2 before anything is written', async () => {
    const here = fresh('blocked');
    writeFileSync(join(here, 'playbooks'), 'not a dir');
    const r = await run(['init'], here);
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toContain('playbooks is not a directory');
    expect(readdirSync(here)).toEqual(['playbooks']);
    noStack(r.stderr);
  });

  it('two directories: exit 2', async () => {
    const r = await run(['init', 'a', '--', 'b'], fresh('two'));
    expect(r.exitCode, r.stderr).toBe(2);
  });
});

describe('defect 25: durations a timer cannot hold', () => {
  it('timeout: 600h is refused at plan time with file:line and the maximum', async () => {
    const file = write('pb/long.yaml', `name: long\nsteps:\n  - name: Wait\n    action: shell\n    with:\n      command: "true"\n      mutates: false\n      timeout: 600h\n`);
    const r = await run(['plan', file, '--host', 'box']);
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/long\.yaml:8:\d+: steps\.0\.with\.timeout: `600h` is not a duration from 0 to 576h/);
  });

  it('ssh command_timeout beyond 24 days is refused in the inventory', async () => {
    const inv = write('long-hosts.yaml', `hosts:\n  far:\n    ssh: { host: 127.0.0.1, command_timeout: 99999999 }\n`);
    const r = await run(['validate', inv]);
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/long-hosts\.yaml:3:\d+: .*command_timeout/);
  });
});

describe('defect 29: a host variable problem is located in the inventory', () => {
  it('an unset { env: NAME } of a host var is reported at the inventory line', async () => {
    const inv = write('hv.yaml', `hosts:\n  box:\n    local: true\n    envs:\n      blue: { dir: ${sb.blue.dir} }\n    vars:\n      token: { env: BG_ADV_SURELY_UNSET }\n`);
    const file = write('pb/usevar.yaml', `name: usevar\nsteps:\n  - name: Echo\n    action: shell\n    env: blue\n    with:\n      command: echo {{ vars.token }}\n      mutates: false\n`);
    const r = await run(['plan', file, '--host', 'box', '-i', inv]);
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/hv\.yaml:7:7: hosts\.box\.vars\.token: .*BG_ADV_SURELY_UNSET/);
    expect(r.stderr).not.toMatch(/usevar\.yaml:\d+/);
  });
});

describe('defect 30: bg validate with built-ins that do not apply', () => {
  it('a project whose hosts have no shared_db validates (exit 0), noting phase2', async () => {
    const here = join(sb.root, 'project30');
    mkdirSync(here);
    writeFileSync(join(here, 'hosts.yaml'), `hosts:\n${localTarget.hostYaml('box', envsYaml(sb, 'http://127.0.0.1:1/'))}`);
    const r = await run(['validate'], here);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/note: built-in playbook phase2 does not apply to host box: .*shared_db/);
  });

  it('a project playbook that does not fit is still an error', async () => {
    const here = join(sb.root, 'project30b');
    mkdirSync(join(here, 'playbooks'), { recursive: true });
    writeFileSync(join(here, 'hosts.yaml'), `hosts:\n${localTarget.hostYaml('box', envsYaml(sb, 'http://127.0.0.1:1/'))}`);
    writeFileSync(join(here, 'playbooks', 'mine.yaml'), OK.replace('env: blue', 'env: purple'));
    const r = await run(['validate'], here);
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/mine\.yaml:5:\d+: .*unknown env `purple`/);
  });
});

describe('property: random argv through validate and plan', () => {
  const word = fc.oneof(
    fc.constantFrom('--host', '-H', '--var', '--inventory', '-i', '--json', '--check', '--', '-', 'box', 'constructor', '__proto__', 'pb/ok.yaml', 'hosts.yaml', 'pb', '--serial', '--lock-wait', 'NaN', '-1', 'x=1', '{{', '%n'),
    fc.string({ maxLength: 12 }).filter((s) => !s.includes('\0')),
  );
  it('exit 0 or 2, never an internal error or a stack', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('validate', 'plan'), fc.array(word, { maxLength: 6 }), async (cmd, args) => {
        const r = await run([cmd, ...args]);
        expect([0, 2], `bg ${cmd} ${JSON.stringify(args)}: ${r.stderr}`).toContain(r.exitCode);
        noStack(r.stderr);
      }),
      { numRuns: 25 },
    );
  }, 120_000);
});
