import { describe, expect, it } from 'vitest';
import { loadInventory, loadPlaybook } from '../../src/cli/load.js';
import { InputError, formatProblem } from '../../src/errors.js';

const fx = (name: string) => new URL(`../fixtures/${name}`, import.meta.url).pathname;

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof InputError) return e.problems.map(formatProblem);
    throw e;
  }
  throw new Error('expected an InputError');
}

describe('loadPlaybook', () => {
  it('reads a valid playbook', () => {
    const pb = loadPlaybook(fx('playbooks/release.yaml')).value;
    expect(pb.steps.map((s) => s.action)).toEqual(['shell', 'backup', 'health']);
    expect(pb.vars).toEqual({ release: 'v1' });
  });

  it('locates broken YAML by line and column', () => {
    const [first] = problemsOf(() => loadPlaybook(fx('playbooks/broken-yaml.yaml')));
    expect(first).toMatch(/broken-yaml\.yaml:\d+:\d+: /);
  });

  it('reports schema problems together, each at its line', () => {
    const p = problemsOf(() => loadPlaybook(fx('playbooks/many-problems.yaml')));
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/many-problems\.yaml:3:\d+: steps\.0\.name: every step needs a `name`/),
        expect.stringMatching(/many-problems\.yaml:19:5: steps\.5\.wiht: unknown field/),
      ]),
    );
  });
});

describe('loadInventory', () => {
  it('reads hosts and groups', () => {
    const inv = loadInventory(fx('hosts.yaml')).value;
    expect(Object.keys(inv.hosts)).toEqual(['prod', 'box']);
    expect(inv.hosts.prod!.envs.blue!.env_file).toBe('.env');
    expect(inv.groups.all).toEqual(['prod', 'box']);
  });

  it('uses the built-in local host when no file is given', () => {
    expect(loadInventory(undefined).value.hosts.local!.local).toBe(true);
  });

  it('rejects a wrong type, a host without transport and an unknown group member with their lines', async () => {
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const dir = mkdtempSync('/tmp/bg-inv-');
    writeFileSync(`${dir}/hosts.yaml`, 'hosts:\n  a:\n    local: true\n    envs:\n      blue: { dir: /x, port: "3000", colour: blue }\n');
    expect(problemsOf(() => loadInventory(`${dir}/hosts.yaml`))).toEqual([
      expect.stringMatching(/hosts\.yaml:5:24: hosts\.a\.envs\.blue\.port: .*expected number, received string/),
      expect.stringMatching(/hosts\.yaml:5:38: hosts\.a\.envs\.blue\.colour: unknown field/),
    ]);
    writeFileSync(`${dir}/hosts.yaml`, 'hosts:\n  a:\n    envs: {}\n  b:\n    local: true\ngroups:\n  g: [b, c]\n');
    expect(problemsOf(() => loadInventory(`${dir}/hosts.yaml`))).toEqual([
      expect.stringMatching(/hosts\.yaml:2:3: hosts\.a: a host needs `ssh:` or `local: true`/),
      expect.stringMatching(/hosts\.yaml:7:10: groups\.g\.1: unknown host `c`/),
    ]);
  });
});
