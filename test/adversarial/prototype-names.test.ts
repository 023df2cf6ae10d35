/**
 * Adversarial: prototype names (issue 10, defect 18). `constructor`, `__proto__`, `toString`, …
 * given where bg looks a name up (hosts, groups, envs, actions, vars) are unknown names (exit 2),
 * never a property every object has. Through the built CLI on the `local` host.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bg } from '../harness/cli.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { localTarget, envsYaml } from '../e2e/targets.js';

const PROTO_NAMES = ['constructor', '__proto__', 'toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', '__defineGetter__', 'propertyIsEnumerable', 'toLocaleString'];

let sb: Sandbox;
const run = (args: string[]) => bg(args, { cwd: sb.root });
const write = (rel: string, text: string) => {
  const file = join(sb.root, rel);
  writeFileSync(file, text);
  return file;
};
const clean = (s: string) => {
  expect(s).not.toContain('internal error');
  expect(s).not.toMatch(/\n\s+at .+:\d+:\d+\)?/);
};

const ENVS_FROM_VAR = `name: envs-from-var
vars:
  envs: blue
steps:
  - name: Say hi
    action: shell
    envs: "{{ vars.envs }}"
    with:
      command: echo hi
      mutates: false
`;

beforeAll(() => {
  sb = makeSandbox('bg-adv-proto-');
  mkdirSync(join(sb.root, 'pb'));
  writeFileSync(join(sb.root, 'hosts.yaml'), `hosts:\n${localTarget.hostYaml('box', envsYaml(sb, 'http://127.0.0.1:1/'))}groups:\n  all: [box]\n`);
  write('pb/envs.yaml', ENVS_FROM_VAR);
});
afterAll(() => sb.remove());

describe('--host with a prototype name, in every command that takes one', () => {
  const commands = (h: string) => [
    ['plan', 'pb/envs.yaml', '--host', h],
    ['run', 'pb/envs.yaml', '--host', h],
    ['status', '--host', h],
    ['history', '--host', h],
    ['unlock', '--host', h],
    ['rollback', '--host', h],
  ];
  for (const name of ['constructor', '__proto__', 'toString'])
    it(`--host ${name}: exit 2, unknown host`, async () => {
      const before = sb.checksum();
      for (const args of commands(name)) {
        const r = await run(args);
        expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(2);
        expect(r.stderr).toContain(`unknown host \`${name}\``);
        clean(r.stderr);
      }
      expect(sb.checksum()).toBe(before);
    });
});

describe('--var with a prototype name or value', () => {
  for (const name of ['constructor', '__proto__', 'toString'])
    it(`--var envs=${name}: exit 2, unknown env`, async () => {
      const r = await run(['plan', 'pb/envs.yaml', '--host', 'box', '--var', `envs=${name}`]);
      expect(r.exitCode, r.stderr).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`envs\\.yaml:7:\\d+: steps\\.0\\.envs: unknown env \`${name}\``));
      clean(r.stderr);
    });

  it('--var __proto__=x is refused, not silently dropped', async () => {
    const r = await run(['plan', 'pb/envs.yaml', '--host', 'box', '--var', '__proto__=x']);
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toContain('--var expects NAME=value');
  });

  it('--var constructor=x is an ordinary variable', async () => {
    const file = write('pb/ctor.yaml', ENVS_FROM_VAR.replace('echo hi', 'echo {{ vars.constructor }}').replace('vars:\n', 'vars:\n  constructor: a\n'));
    const r = await run(['plan', file, '--host', 'box', '--var', 'constructor=x; rm -rf /']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain("echo 'x; rm -rf /'");
  });
});

describe('prototype names in the files', () => {
  it('a playbook action `constructor` is an unknown action at file:line', async () => {
    const file = write('pb/action.yaml', `name: a\nsteps:\n  - name: X\n    action: constructor\n`);
    const r = await run(['plan', file, '--host', 'box']);
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/action\.yaml:4:\d+: steps\.0\.action: unknown action `constructor`/);
    clean(r.stderr);
  });

  it('an env named `toString` in a step that the host lacks is unknown', async () => {
    const file = write('pb/env.yaml', ENVS_FROM_VAR.replace('envs: "{{ vars.envs }}"', 'env: toString'));
    const r = await run(['plan', file, '--host', 'box']);
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toContain('unknown env `toString`');
  });

  it('a group member `toString` that is no host is an unknown host at file:line', async () => {
    const inv = write('groups.yaml', `hosts:\n  box:\n    local: true\ngroups:\n  g: [toString]\n  constructor: [box]\n`);
    const r = await run(['validate', inv]);
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/groups\.yaml:5:\d+: groups\.g\.0: unknown host `toString`/);
    expect(r.stderr).not.toContain('has the name of a host');
  });

  it('a `__proto__` key anywhere is refused at file:line, never silently dropped', async () => {
    const inv = write('proto.yaml', `hosts:\n  box:\n    local: true\n  __proto__:\n    local: true\n`);
    const r = await run(['validate', inv]);
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/proto\.yaml:4:3: `__proto__` cannot be used as a name/);
    const play = write('pb/proto.yaml', `name: p\nvars:\n  __proto__: { polluted: yes }\nsteps: []\n`);
    const p = await run(['plan', play, '--host', 'box']);
    expect(p.exitCode, p.stderr).toBe(2);
    expect(p.stderr).toMatch(/proto\.yaml:3:3: `__proto__` cannot be used as a name/);
  });

  it('hosts and groups with prototype names work as ordinary names', async () => {
    const inv = write('ordinary.yaml', `hosts:\n  constructor:\n    local: true\n${envsYaml(sb, 'http://127.0.0.1:1/')}groups:\n  toString: [constructor]\n`);
    const r = await bg(['plan', 'pb/envs.yaml', '--host', 'toString', '-i', inv, '--json'], { cwd: sb.root });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)[0].host.name).toBe('constructor');
  });
});

describe('property: any --host / --var envs name', () => {
  it('is a known host or exit 2 "unknown", never an internal error', async () => {
    const name = fc.oneof(fc.constantFrom(...PROTO_NAMES), fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_-]{0,10}$/));
    await fc.assert(
      fc.asyncProperty(name, name, async (host, env) => {
        const r = await run(['plan', 'pb/envs.yaml', '--host', host, '--var', `envs=${env}`]);
        clean(r.stderr);
        if (host === 'box' || host === 'all') expect([0, 2]).toContain(r.exitCode);
        else {
          expect(r.exitCode, r.stderr).toBe(2);
          expect(r.stderr).toContain(`unknown host \`${host}\``);
        }
      }),
      { numRuns: 20 },
    );
  }, 120_000);
});
