import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { bg } from '../harness/cli.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { envsYaml, localTarget, sshTarget } from './targets.js';

// The composite action (action.yml) run the way a GitHub runner runs it: each step's `run:` script
// with `bash --noprofile --norc -eo pipefail`, its `env:` with `${{ inputs.X }}` substituted as text,
// GITHUB_OUTPUT / GITHUB_STEP_SUMMARY / RUNNER_TEMP / GITHUB_ACTION_PATH set, against a sandbox
// inventory on this machine (local host, real sqlite3).

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/playbooks/${name}.yaml`, import.meta.url));

interface ActionStep {
  name: string;
  id?: string;
  shell: string;
  run: string;
  env?: Record<string, string>;
  'working-directory'?: string;
}
interface ActionYml {
  inputs: Record<string, { default?: string }>;
  outputs: Record<string, { value: string }>;
  runs: { using: string; steps: ActionStep[] };
}
const action = parse(readFileSync(join(REPO, 'action.yml'), 'utf8')) as ActionYml;

/** `${{ inputs.X }}` is text substitution; any other expression would need a runner: fail loudly. */
function substitute(text: string, inputs: Record<string, string>): string {
  return text.replace(/\$\{\{\s*([^}]*?)\s*\}\}/g, (_, expr: string) => {
    const m = /^inputs\.([A-Za-z0-9_-]+)$/.exec(expr);
    if (!m) throw new Error(`unsupported expression in action.yml: ${expr}`);
    if (!(m[1]! in action.inputs)) throw new Error(`undeclared input ${m[1]}`);
    return inputs[m[1]!] ?? String(action.inputs[m[1]!]!.default ?? '');
  });
}

/** The runner's reading of a GITHUB_OUTPUT file (NAME=VALUE, or NAME<<DELIM … DELIM); throws on a malformed one. */
export function parseOutputFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    const eq = line.indexOf('=');
    const hd = line.indexOf('<<');
    if (eq >= 0 && (hd < 0 || eq < hd)) out[line.slice(0, eq)] = line.slice(eq + 1);
    else if (hd >= 0) {
      const [key, delim] = [line.slice(0, hd), line.slice(hd + 2)];
      const value: string[] = [];
      for (i++; ; i++) {
        if (i >= lines.length) throw new Error(`output ${key}: no closing delimiter`);
        if (lines[i] === delim) break;
        value.push(lines[i]!);
      }
      out[key] = value.join('\n');
    } else throw new Error(`malformed output line: ${JSON.stringify(line)}`);
  }
  return out;
}

interface ActionResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** The action's outputs (`outputs:` resolved from the step outputs). */
  outputs: Record<string, string>;
  /** Everything the steps wrote to their GITHUB_OUTPUT files. */
  stepOutputs: Record<string, Record<string, string>>;
  summary: string;
  npmCalls: string;
}

function actionRunner(root: string, fakeBin: string, extraEnv: Record<string, string> = {}) {
  return async function runAction(inputs: Record<string, string>): Promise<ActionResult> {
    const temp = mkdtempSync(join(tmpdir(), 'bg-runner-'));
    const summary = join(temp, 'summary.md');
    const npmLog = join(temp, 'npm-calls');
    writeFileSync(summary, '');
    const res: ActionResult = { exitCode: 0, stdout: '', stderr: '', outputs: {}, stepOutputs: {}, summary: '', npmCalls: '' };
    try {
      for (const [i, step] of action.runs.steps.entries()) {
        const outputFile = join(temp, `output-${i}`);
        writeFileSync(outputFile, '');
        const script = join(temp, `step-${i}.sh`);
        writeFileSync(script, step.run);
        const env = Object.fromEntries(Object.entries(step.env ?? {}).map(([k, v]) => [k, substitute(String(v), inputs)]));
        const cwd = resolve(root, substitute(step['working-directory'] ?? '.', inputs));
        expect(step.shell).toBe('bash');
        const r = await execa('bash', ['--noprofile', '--norc', '-eo', 'pipefail', script], {
          cwd,
          reject: false,
          timeout: 120_000,
          env: {
            PATH: `${fakeBin}:${process.env.PATH}`,
            HOME: process.env.HOME,
            CI: 'true',
            GITHUB_ACTIONS: 'true',
            GITHUB_WORKSPACE: root,
            GITHUB_ACTION_PATH: REPO,
            GITHUB_OUTPUT: outputFile,
            GITHUB_STEP_SUMMARY: summary,
            RUNNER_TEMP: temp,
            FAKE_NPM_LOG: npmLog,
            ...extraEnv,
            ...env,
          },
          extendEnv: false,
        });
        res.stdout += String(r.stdout);
        res.stderr += String(r.stderr);
        res.stepOutputs[step.id ?? `step${i}`] = parseOutputFile(readFileSync(outputFile, 'utf8'));
        res.exitCode = r.exitCode ?? -1;
        if (res.exitCode !== 0) break; // a failed step ends the action, as on a runner
      }
      for (const [name, { value }] of Object.entries(action.outputs)) {
        const m = /^\$\{\{\s*steps\.([\w-]+)\.outputs\.([\w-]+)\s*\}\}$/.exec(value);
        if (!m) throw new Error(`output ${name}: unsupported value ${value}`);
        res.outputs[name] = res.stepOutputs[m[1]!]?.[m[2]!] ?? '';
      }
      res.summary = readFileSync(summary, 'utf8');
      res.npmCalls = existsSync(npmLog) ? readFileSync(npmLog, 'utf8') : '';
      return res;
    } finally {
      rmSync(temp, { recursive: true, force: true });
    }
  }
}

/** A stand-in for npm: the action's own `npm ci` would reinstall this checkout; it records how it was called. */
function fakeNpm(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bg-fake-npm-'));
  writeFileSync(join(dir, 'npm'), '#!/bin/sh\nprintf "%s\\n" "$*" >> "$FAKE_NPM_LOG"\n');
  chmodSync(join(dir, 'npm'), 0o755);
  return dir;
}

const expectOutputKeys = (r: ActionResult) => expect(Object.keys(r.stepOutputs.bg ?? {}).sort()).toEqual(['exit-code', 'outcome', 'run-id']);

describe('the composite action (action.yml) in a simulated GitHub runner', () => {
  let sb: Sandbox;
  let fakeBin: string;
  const runAction = (inputs: Record<string, string>) => actionRunner(sb.root, fakeBin)(inputs);

  beforeAll(() => {
    sb = makeSandbox('bg-action-');
    writeFileSync(join(sb.root, 'hosts.yaml'), `hosts:\n${localTarget.hostYaml('box', envsYaml(sb, 'http://127.0.0.1:1/'))}`);
    mkdirSync(join(sb.root, 'playbooks'));
    writeFileSync(
      join(sb.root, 'playbooks', 'mark.yaml'),
      `name: mark
vars: { release: v1 }
steps:
  - name: Mark the release
    action: shell
    env: blue
    with:
      command: printf '%s\\n' {{ vars.release }} > RELEASE
      verify: test -f RELEASE
      undo: rm -f RELEASE
`,
    );
    mkdirSync(join(sb.root, 'migrations'));
    // The directory is a sequence: 000 creates the table that 001 changes (bg lint replays it).
    writeFileSync(join(sb.root, 'migrations', '000-create.sql'), 'CREATE TABLE time_entries (id INTEGER PRIMARY KEY, description TEXT);\n');
    writeFileSync(join(sb.root, 'migrations', '001-add.sql'), 'ALTER TABLE time_entries ADD COLUMN user_id INTEGER NOT NULL;\n');
    fakeBin = fakeNpm();
  });
  afterAll(() => {
    sb.remove();
    rmSync(fakeBin, { recursive: true, force: true });
  });

  it('every step script passes shellcheck, and no script text holds an expression (inputs come in as env)', () => {
    for (const step of action.runs.steps) {
      expect(step.run).not.toContain('${{');
      const r = (() => {
        try {
          return { code: 0, out: execFileSync('shellcheck', ['-s', 'bash', '-S', 'style', '-'], { input: step.run, encoding: 'utf8' }) };
        } catch (e) {
          const err = e as { status: number; stdout: string };
          return { code: err.status, out: err.stdout };
        }
      })();
      expect(r.out, `shellcheck on step "${step.name}"`).toBe('');
      expect(r.code).toBe(0);
    }
  });

  it('validate and lint run without a host; findings are annotated on their lines of the diff', async () => {
    const ok = await runAction({ command: 'validate', paths: 'hosts.yaml\n  playbooks/mark.yaml  \n\n' });
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(ok.npmCalls).toBe(`ci --prefix ${REPO} --no-audit --no-fund --loglevel=error\n`);
    expect(ok.stdout).toMatch(/✔ 2 files valid/);
    expect(ok.outputs).toEqual({ 'exit-code': '0', outcome: 'done', 'run-id': '' });
    expectOutputKeys(ok);

    writeFileSync(join(sb.root, 'playbooks', 'bad.yaml'), 'name: bad\nsteps:\n  - name: x\n    action: nope\n    env: blue\n');
    const bad = await runAction({ command: 'validate', paths: 'playbooks/bad.yaml' });
    rmSync(join(sb.root, 'playbooks', 'bad.yaml'));
    expect(bad.exitCode).toBe(2);
    expect(bad.stdout).toMatch(/^::error file=playbooks\/bad\.yaml,line=4,col=\d+,title=bg validate::steps\.0\.action: /m);
    expect(bad.outputs).toMatchObject({ 'exit-code': '2', outcome: 'bad-input' });

    const lint = await runAction({ command: 'lint', paths: 'migrations' });
    expect(lint.exitCode).toBe(1);
    expect(lint.stdout).toMatch(/^::error file=migrations\/001-add\.sql,line=1,col=\d+,title=bg lint%3A add-column-not-null::adds column time_entries\.user_id NOT NULL/m);
    expect(lint.outputs).toEqual({ 'exit-code': '1', outcome: 'failed', 'run-id': '' });
  });

  it('plan, run, status, history, unlock and rollback run through it, with outputs and the step summary', async () => {
    const plan = await runAction({ command: 'plan', playbook: 'mark', host: 'box' });
    expect(plan.exitCode, plan.stderr).toBe(0);
    expect(plan.stdout).toContain("printf '%s\\n' v1 > RELEASE");

    const run = await runAction({ command: 'run', playbook: 'mark', host: 'box', args: '--var release=v2' });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.outputs['outcome']).toBe('done');
    expect(run.outputs['exit-code']).toBe('0');
    expect(run.outputs['run-id']).toMatch(/^\S+$/);
    expect(readFileSync(join(sb.blue.dir, 'RELEASE'), 'utf8')).toBe('v2\n');
    expect(run.stdout).toMatch(/^::group::box · 1\. Mark the release$/m);
    expect(run.summary).toContain('## bg: ');
    expect(run.summary).toContain(run.outputs['run-id']!.replace(/[\\`*_{}[\]<>|~&$]/g, (c) => `&#${c.charCodeAt(0)};`));

    const history = await runAction({ command: 'history', host: 'box', args: '--json' });
    expect(history.exitCode, history.stderr).toBe(0);
    expect((JSON.parse(history.stdout) as Array<{ run: string }>).map((r) => r.run)).toContain(run.outputs['run-id']);
    expect(history.outputs).toEqual({ 'exit-code': '0', outcome: 'done', 'run-id': '' });

    const status = await runAction({ command: 'status', host: 'box', args: '--json --no-color' });
    expect(status.exitCode, status.stderr).toBe(0);
    expect((JSON.parse(status.stdout) as Array<{ lastRun: { id: string } }>)[0]!.lastRun.id).toBe(run.outputs['run-id']);

    const unlock = await runAction({ command: 'unlock', host: 'box' });
    expect(unlock.exitCode, unlock.stderr).toBe(0);
    expect(unlock.stdout).toContain('box: not locked');

    const rollback = await runAction({ command: 'rollback', host: 'box', args: `--run ${run.outputs['run-id']}` });
    expect(rollback.exitCode, rollback.stderr).toBe(0);
    expect(existsSync(join(sb.blue.dir, 'RELEASE'))).toBe(false);
    expect(rollback.outputs['outcome']).toBe('done');
  });

  it('a failed run: the outputs are written, then the action fails with bg\u2019s exit code', async () => {
    const r = await runAction({ command: 'run', playbook: fixture('e2e-failing-verify'), host: 'box' });
    expect(r.exitCode).toBe(1);
    expect(r.outputs['exit-code']).toBe('1');
    expect(r.outputs['outcome']).toBe('failed');
    expect(r.outputs['run-id']).toMatch(/^\S+$/);
    expect(r.stdout).toMatch(/^::error title=bg%3A "Claim something false" failed on box/m);
    expect(r.summary).toMatch(/↩️ box: rolled-back/);
  });

  it('hostile inputs stay data: nothing is evaluated, globbed or forged into the outputs', async () => {
    const marker = join(sb.root, 'pwned');
    const forged = await runAction({ command: 'run', playbook: 'x\nforged=1\nexit-code<<EOF\n0\nEOF', host: 'box' });
    expect(forged.exitCode).toBe(2);
    expectOutputKeys(forged);
    expect(forged.outputs).toEqual({ 'exit-code': '2', outcome: 'bad-input', 'run-id': '' });

    // args is split on whitespace on purpose, but never evaluated: these words reach bg as they are.
    const evil = await runAction({ command: 'status', host: 'box', args: `$(touch ${marker}) \`touch ${marker}\` ; touch ${marker}` });
    expect(evil.exitCode).toBe(2);
    expect(evil.stderr).toMatch(/Unknown argument/);
    expect(existsSync(marker)).toBe(false);

    writeFileSync(join(sb.root, 'RELEASE-glob-bait'), '');
    const plan = await runAction({ command: 'plan', playbook: 'mark', host: 'box', args: '--json --var release=R*$(id)' });
    expect(plan.exitCode, plan.stderr).toBe(0);
    expect(JSON.stringify(JSON.parse(plan.stdout))).toContain(`'R*$(id)'`);

    for (const command of ['--help', 'status; touch x', 'run\nx']) {
      const r = await runAction({ command, host: 'box' });
      expect(r.exitCode, command).toBe(2);
      expect(r.outputs['outcome']).toBe('bad-input');
    }
    // A host or playbook starting with '-' is a value, not an option.
    const dash = await runAction({ command: 'status', host: '--help' });
    expect(dash.exitCode).toBe(2);
    expect(dash.stderr).toMatch(/--help/);
    const dashPlaybook = await runAction({ command: 'plan', playbook: '--version', host: 'box' });
    expect(dashPlaybook.exitCode).toBe(2);
    expect(dashPlaybook.stdout).not.toContain('0.1.0');
  });

  it('random playbook and host inputs never forge an output or run anything (property)', async () => {
    const marker = join(sb.root, 'pwned-prop');
    const bits = fc.constantFrom('\n', '=', '<<', 'EOF', '$(', `touch ${marker}`, ')', '`', ';', '*', '-', '--', ' ', '"', "'", '::error::x', '%0A', 'exit-code=0');
    const value = fc.array(bits, { minLength: 1, maxLength: 8 }).map((a) => a.join(''));
    await fc.assert(
      fc.asyncProperty(value, value, async (playbook, host) => {
        const r = await runAction({ command: 'plan', playbook, host });
        expect(r.exitCode).toBe(2);
        expectOutputKeys(r);
        expect(r.outputs).toEqual({ 'exit-code': '2', outcome: 'bad-input', 'run-id': '' });
        expect(existsSync(marker)).toBe(false);
        for (const line of r.stdout.split('\n')) if (/^\s*::/.test(line)) expect(line).toMatch(/^::(error|warning|group|endgroup)[ :]/);
      }),
      { numRuns: 4 },
    );
  });
});

describe('docs/github-actions.md uses the action as it is', () => {
  it('every `with:` key is an input, every `steps.ID.outputs.X` an output, and every workflow parses', () => {
    const md = readFileSync(join(REPO, 'docs', 'github-actions.md'), 'utf8');
    const blocks = [...md.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    let uses = 0;
    for (const block of blocks) {
      const doc = parse(block) as { jobs?: Record<string, { steps: Array<{ id?: string; uses?: string; with?: Record<string, unknown> }> }> } | unknown[];
      const steps = Array.isArray(doc) ? (doc as Array<{ id?: string; uses?: string; with?: Record<string, unknown> }>) : Object.values(doc.jobs ?? {}).flatMap((j) => j.steps);
      const ids = new Set<string>();
      for (const step of steps) {
        if (!/\/bg@/.test(step.uses ?? '')) continue;
        uses++;
        if (step.id) ids.add(step.id);
        for (const key of Object.keys(step.with ?? {})) expect(Object.keys(action.inputs), `with: ${key}`).toContain(key);
      }
      for (const [, id, out] of block.matchAll(/steps\.([\w-]+)\.outputs\.([\w-]+)/g)) {
        expect(ids.has(id!), `steps.${id}`).toBe(true);
        expect(Object.keys(action.outputs)).toContain(out);
      }
    }
    expect(uses).toBeGreaterThanOrEqual(3);
  });
});

describe('the composite action against a real sshd: ssh-key and known-hosts inputs', () => {
  const target = sshTarget();
  let sb: Sandbox;
  let fakeBin: string;
  let home: string;
  let runAction: ReturnType<typeof actionRunner>;

  beforeAll(async () => {
    await target.setup();
    const sshd = target.sshd();
    sb = makeSandbox('bg-action-ssh-');
    // No key file in the inventory: the key comes from the ssh-key input (BG_SSH_KEY) only.
    writeFileSync(join(sb.root, 'hosts.yaml'), `hosts:\n  prod:\n    ssh: { host: 127.0.0.1, port: ${sshd.port}, user: ${sshd.user} }\n${envsYaml(sb, 'http://127.0.0.1:1/')}`);
    fakeBin = fakeNpm();
    // An empty home: no ~/.ssh of this machine's user can make a test pass.
    home = mkdtempSync(join(tmpdir(), 'bg-action-home-'));
    runAction = actionRunner(sb.root, fakeBin, { HOME: home, BG_SSH_CONFIG: '/dev/null', SSH_AUTH_SOCK: '' });
  });
  afterAll(async () => {
    await target.teardown();
    sb.remove();
    rmSync(fakeBin, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  });

  it('connects with the key and host keys given as inputs; without the host key it is unreachable (exit 5)', async () => {
    const sshd = target.sshd();
    const inputs = { host: 'prod', 'ssh-key': sshd.clientKeyText, 'known-hosts': readFileSync(sshd.knownHostsPath, 'utf8') };
    const run = await runAction({ ...inputs, command: 'run', playbook: fixture('e2e-failing-verify') });
    expect(run.exitCode, run.stderr).toBe(1);
    expect(run.outputs['outcome']).toBe('failed');
    expect(run.stdout + run.stderr).not.toContain(sshd.clientKeyText.trim().split('\n')[1]!);
    const status = await runAction({ ...inputs, command: 'status', args: '--json' });
    expect(status.exitCode, status.stderr).toBe(0);
    expect((JSON.parse(status.stdout) as Array<{ lastRun: { id: string; outcome: string } }>)[0]!.lastRun.id).toBe(run.outputs['run-id']);

    const stranger = await runAction({ host: 'prod', 'ssh-key': sshd.clientKeyText, command: 'status' });
    expect(stranger.exitCode).toBe(5);
    expect(stranger.outputs).toEqual({ 'exit-code': '5', outcome: 'unreachable', 'run-id': '' });
  });
});

describe('output flags on every command, and annotations through the CLI', () => {
  let sb: Sandbox;
  const run = (args: string[], env: Record<string, string | undefined> = {}) => bg(args, { cwd: sb.root, env: { NO_COLOR: undefined, ...env } });

  beforeAll(() => {
    sb = makeSandbox('bg-flags-');
    writeFileSync(join(sb.root, 'hosts.yaml'), `hosts:\n${localTarget.hostYaml('box', envsYaml(sb, 'http://127.0.0.1:1/'))}`);
  });
  afterAll(() => sb.remove());

  it('--ci --json --no-color are accepted by every command, and --json is JSON', async () => {
    const flags = ['--ci', '--json', '--no-color'];
    const cases: Array<[string[], number]> = [
      [['validate', 'hosts.yaml'], 0],
      [['plan', fixture('e2e-failing-verify'), '--host', 'box'], 0],
      [['run', fixture('e2e-failing-verify'), '--host', 'box', '--dry-run'], 0],
      [['status', '--host', 'box'], 0],
      [['history', '--host', 'box'], 0],
      [['unlock', '--host', 'box'], 0],
      [['lint', fileURLToPath(new URL('../../examples/app/migrations', import.meta.url))], 0],
      [['init', 'fresh'], 0],
    ];
    for (const [args, code] of cases) {
      const r = await run([...args, ...flags], { FORCE_COLOR: '1' });
      expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(code);
      expect(() => JSON.parse(r.stdout), `${args[0]} --json`).not.toThrow();
      expect(r.stdout + r.stderr).not.toMatch(/\u001b\[/);
    }
    // run and rollback print one JSON event per line; their words for people go to stderr.
    const real = await run(['run', fixture('e2e-failing-verify'), '--host', 'box', ...flags]);
    expect(real.exitCode).toBe(1);
    for (const cmd of [['rollback', '--host', 'box'], ['rollback', '--host', 'box', '--dry-run']]) {
      const r = await run([...cmd, ...flags]);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/box: run \S+ .*nothing left to undo/);
      for (const line of r.stdout.split('\n').filter(Boolean)) expect(() => JSON.parse(line), line).not.toThrow();
    }
    for (const line of real.stdout.split('\n').filter(Boolean)) expect(() => JSON.parse(line), line).not.toThrow();
  });

  it('a finding holding :: or a newline cannot forge an annotation; paths are relative to the workspace', async () => {
    const dir = join(sb.root, 'mig');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, '001.sql'), 'CREATE TABLE t(a INTEGER);\n');
    writeFileSync(join(dir, '002.sql'), 'ALTER TABLE t ADD COLUMN "x\n::error::forged" INTEGER NOT NULL;\n');
    const r = await run(['lint', 'mig'], { GITHUB_ACTIONS: 'true', GITHUB_WORKSPACE: sb.root });
    expect(r.exitCode).toBe(1);
    const commands = (r.stdout + '\n' + r.stderr).split('\n').filter((l) => /^\s*::/.test(l));
    expect(commands).toHaveLength(1);
    expect(commands[0]).toMatch(/^::error file=mig\/002\.sql,line=1,col=\d+,title=bg lint%3A add-column-not-null::.*x%0A::error::forged/);

    // Same through --ci with GITHUB_ACTIONS set to something else; none with --json.
    const ci = await run(['lint', 'mig', '--ci'], { GITHUB_ACTIONS: '1', GITHUB_WORKSPACE: sb.root });
    expect(ci.stdout).toMatch(/^::error file=mig\/002\.sql/m);
    const json = await run(['lint', 'mig', '--json'], { GITHUB_ACTIONS: 'true' });
    expect(JSON.parse(json.stdout).summary.breaking).toBe(1);

    writeFileSync(join(sb.root, 'odd.yaml'), 'hosts:\n  a:\n    local: true\n    "k\\n::error::forged": 1\n');
    const v = await run(['validate', 'odd.yaml'], { GITHUB_ACTIONS: 'true', GITHUB_WORKSPACE: sb.root });
    expect(v.exitCode).toBe(2);
    const vCommands = (v.stdout + '\n' + v.stderr).split('\n').filter((l) => /^\s*::/.test(l));
    expect(vCommands.length).toBeGreaterThan(0);
    for (const c of vCommands) expect(c).toMatch(/^::error file=odd\.yaml,line=4,col=\d+,title=bg validate::/);
    expect(v.stderr).toContain('\\::error::forged');
  });
});
