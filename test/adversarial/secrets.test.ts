// Adversarial: secrets (defects 4, 5, 7, 24, 28 of issue 10). Everything through the built CLI on
// the `local` host; `ps` visibility is read from /proc/*/cmdline while a step sleeps.
import { statSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bg } from '../harness/cli.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { redactor } from '../../src/transport/secrets.js';
import { resolveVars } from '../../src/plan/vars.js';

const PIN = '123';

describe('secrets', () => {
  let sb: Sandbox;
  const run = (args: string[], env: Record<string, string | undefined> = {}) => bg(args, { cwd: sb.root, env: { DEPLOY_TOKEN: 'tok-from-env-9f2', ...env } });
  const journalFiles = () => {
    const dir = join(sb.root, 'journal', 'runs');
    // Every file of every run, at any depth (steps/N/…, the step runner's out/ while a step runs).
    return readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((f) => join(dir, f)).filter((f) => statSync(f).isFile());
  };
  const lastRun = () => readdirSync(join(sb.root, 'journal', 'runs')).sort().at(-1)!;

  beforeAll(() => {
    sb = makeSandbox('bg-adv-secrets-');
    mkdirSync(join(sb.root, 'playbooks'));
    writeFileSync(
      join(sb.root, 'hosts.yaml'),
      `hosts:
  box:
    local: true
    envs:
      blue: { dir: ${sb.blue.dir}, db: database.db }
      green: { dir: ${sb.green.dir}, db: database.db }
    journal: ${sb.root}/journal
    backups: { dir: ${sb.root}/backups }
    vars:
      pin: { value: "${PIN}", secret: true }
`,
    );
    // `token` is a secret declared inline in the PLAYBOOK; `pin` inline in the inventory.
    writeFileSync(
      join(sb.root, 'playbooks', 'sec.yaml'),
      `name: sec
vars:
  token: { value: "inline-playbook-secret-77", secret: true }
  nap: "0"
steps:
  - name: Store the token
    action: shell
    env: blue
    with:
      command: printf '%s' {{ vars.token }} > TOKEN; echo "pin {{ vars.pin }} token {{ vars.token }}"; sleep {{ vars.nap }}
      verify: test -s TOKEN
      undo: printf '%s' {{ vars.token }} > UNDONE-WITH; echo "pin {{ vars.pin }}"; rm -f TOKEN
  - name: Fail
    action: shell
    env: blue
    with:
      command: echo "fail pin {{ vars.pin }} token {{ vars.token }}" >&2; exit 3
      mutates: false
`,
    );
  });
  afterAll(() => sb.remove());

  it('5: --var over a secret stays secret: not in the plan, --json, ps or run.json; the --var value is the one used', async () => {
    const VALUE = 'var-given-secret-4711';
    for (const json of [[], ['--json']]) {
      const plan = await run(['plan', 'sec', '--host', 'box', '--var', `token=${VALUE}`, ...json]);
      expect(plan.exitCode, plan.stderr).toBe(0);
      expect(plan.stdout).not.toContain(VALUE);
      expect(plan.stdout).toContain('BG_SECRET_token');
    }
    // ps: read every process's command line while the step sleeps.
    const running = run(['run', 'sec', '--host', 'box', '--var', `token=${VALUE}`, '--var', 'nap=2', '--no-rollback']);
    const seen: string[] = [];
    const deadline = Date.now() + 4000;
    while (Date.now() < deadline) {
      for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
        try {
          seen.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
        } catch {
          // gone
        }
      }
      await new Promise((r) => setTimeout(r, 150));
    }
    const r = await running;
    expect(r.exitCode, r.stderr).toBe(1);
    expect(seen.some((c) => c.includes('BG_SECRET_token'))).toBe(true); // we did see the step's shell
    // bg's own command line holds what the operator typed (README: prefer `{ env: … }` for secrets); no process bg starts does.
    expect(seen.filter((c) => c.includes(VALUE) && !c.includes('bin/bg.js'))).toEqual([]);
    expect(r.stdout + r.stderr).not.toContain(VALUE);
    for (const f of journalFiles()) expect(readFileSync(f, 'utf8')).not.toContain(VALUE);
    expect(readFileSync(join(sb.blue.dir, 'TOKEN'), 'utf8')).toBe(VALUE);
    // The rollback cannot know a --var secret: it asks for it again, then uses it.
    const asked = await run(['rollback', '--host', 'box']);
    expect(asked.exitCode).toBe(2);
    expect(asked.stderr).toContain('--var token=VALUE');
    const rb = await run(['rollback', '--host', 'box', '--var', `token=${VALUE}`]);
    expect(rb.exitCode, rb.stderr).toBe(0);
    expect(readFileSync(join(sb.blue.dir, 'UNDONE-WITH'), 'utf8')).toBe(VALUE);
  });

  it('7: a 3-character secret is redacted everywhere bg prints', async () => {
    for (const extra of [[], ['--json'], ['--ci']]) {
      const r = await run(['run', 'sec', '--host', 'box', ...extra], { GITHUB_ACTIONS: extra.length ? undefined : 'true' });
      expect(r.exitCode).toBe(1);
      const all = r.stdout + r.stderr;
      expect(all).toContain('pin ***');
      expect(all).not.toContain(PIN);
    }
  });

  it('28: bg rollback undoes a run whose undo needs a secret declared inline in the playbook', async () => {
    const r = await run(['run', 'sec', '--host', 'box', '--no-rollback']);
    expect(r.exitCode).toBe(1);
    const rb = await run(['rollback', '--host', 'box']);
    expect(rb.exitCode, rb.stderr).toBe(0);
    expect(readFileSync(join(sb.blue.dir, 'UNDONE-WITH'), 'utf8')).toBe('inline-playbook-secret-77');
    expect(rb.stdout + rb.stderr).not.toContain(PIN);
  });

  it('4: names of secrets in a tampered run.json never pull variables from the operator’s environment', async () => {
    const r = await run(['run', 'sec', '--host', 'box', '--no-rollback']);
    expect(r.exitCode).toBe(1);
    const file = join(sb.root, 'journal', 'runs', lastRun(), 'run.json');
    const doc = JSON.parse(readFileSync(file, 'utf8'));
    // What a hostile host would write: a secret sourced from the operator's BG_SSH_KEY, leaked by the undo.
    doc.plan.secrets = { ...doc.plan.secrets, stolen: 'OPERATOR_SECRET', token: 'OPERATOR_SECRET' };
    doc.plan.steps[0].undo[0].cmd += `; echo "$BG_SECRET_stolen" > ${sb.blue.dir}/LEAK`;
    writeFileSync(file, JSON.stringify(doc));
    const rb = await run(['rollback', '--host', 'box'], { OPERATOR_SECRET: 'operator-private-value' });
    expect(rb.exitCode).toBe(2);
    expect(rb.stderr).toMatch(/secret `stolen`, which is not declared/);
    expect(existsSync(join(sb.blue.dir, 'LEAK'))).toBe(false);
    // A prototype name is no declared secret either (it resolved to Object's constructor).
    for (const proto of ['constructor', 'valueOf', 'toString']) {
      writeFileSync(file, JSON.stringify({ ...doc, plan: { ...doc.plan, secrets: { ...doc.plan.secrets, stolen: undefined, [proto]: null } } }));
      const p = await run(['rollback', '--host', 'box']);
      expect(p.exitCode, p.stderr).toBe(2);
      expect(p.stderr).toContain(`secret \`${proto}\`, which is not declared`);
    }
    // Without the extra name, `token` resolves from the playbook, not from the env name the journal gives.
    delete doc.plan.secrets.stolen;
    doc.plan.steps[0].undo[0].cmd = doc.plan.steps[0].undo[0].cmd.replace(/; echo .*LEAK$/, '');
    writeFileSync(file, JSON.stringify(doc));
    const ok = await run(['rollback', '--host', 'box'], { OPERATOR_SECRET: 'operator-private-value' });
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(readFileSync(join(sb.blue.dir, 'UNDONE-WITH'), 'utf8')).toBe('inline-playbook-secret-77');
  });

  it('28: a playbook that is gone here is a clear error naming the secret', async () => {
    writeFileSync(join(sb.root, 'playbooks', 'gone.yaml'), readFileSync(join(sb.root, 'playbooks', 'sec.yaml'), 'utf8').replace('name: sec', 'name: gone'));
    expect((await run(['run', 'gone', '--host', 'box', '--no-rollback'])).exitCode).toBe(1);
    const { rmSync } = await import('node:fs');
    rmSync(join(sb.root, 'playbooks', 'gone.yaml'));
    const rb = await run(['rollback', '--host', 'box']);
    expect(rb.exitCode).toBe(2);
    expect(rb.stderr).toMatch(/secret `token`.*playbook `gone` \(not found here/);
    // Put it back and finish, so that later tests start from a clean host.
    writeFileSync(join(sb.root, 'playbooks', 'gone.yaml'), readFileSync(join(sb.root, 'playbooks', 'sec.yaml'), 'utf8').replace('name: sec', 'name: gone'));
    expect((await run(['rollback', '--host', 'box'])).exitCode).toBe(0);
  });

  it('24: NUL, oversize values and a secret name with `-` exit 2 before anything runs, naming the variable and where it came from', async () => {
    writeFileSync(
      join(sb.root, 'playbooks', 'limits.yaml'),
      `name: limits
vars:
  small: ok
steps:
  - name: Change the host first
    action: shell
    env: blue
    with:
      command: touch CHANGED
      undo: rm -f CHANGED
  - name: Use the values
    action: shell
    env: blue
    with:
      command: printf '%s' {{ vars.small }} | wc -c
`,
    );
    const runsBefore = readdirSync(join(sb.root, 'journal', 'runs')).length;
    expect((await run(['plan', 'limits', '--host', 'box'])).exitCode).toBe(0); // control: it plans
    // A NUL byte from a file (YAML "\0") and a 200 KiB value from the environment.
    writeFileSync(join(sb.root, 'playbooks', 'limits-nul.yaml'), readFileSync(join(sb.root, 'playbooks', 'limits.yaml'), 'utf8').replace('name: limits', 'name: limits-nul').replace('small: ok', 'small: "a\\0b"'));
    const r1 = await run(['run', 'limits-nul', '--host', 'box']);
    expect(r1.exitCode).toBe(2);
    expect(r1.stderr).toMatch(/limits-nul\.yaml:\d+:\d+: vars\.small: variable `small` \(from the playbook’s vars\) contains a NUL byte/);
    // (Linux refuses an environment string over 128 KiB as it does an argument: a file is the way in.)
    writeFileSync(join(sb.root, 'playbooks', 'limits-big.yaml'), readFileSync(join(sb.root, 'playbooks', 'limits.yaml'), 'utf8').replace('name: limits', 'name: limits-big').replace('small: ok', `small: ${'x'.repeat(200 * 1024)}`));
    const r2 = await run(['run', 'limits-big', '--host', 'box']);
    expect(r2.exitCode).toBe(2);
    expect(r2.stderr).toMatch(/limits-big\.yaml:\d+:\d+: vars\.small: variable `small` \(from the playbook’s vars\) is 200 KiB/);
    // A command that only gets too big once rendered (two 70 KiB values in one command).
    writeFileSync(join(sb.root, 'playbooks', 'limits-cmd.yaml'), readFileSync(join(sb.root, 'playbooks', 'limits.yaml'), 'utf8').replace('name: limits', 'name: limits-cmd').replace("{{ vars.small }} | wc -c", '{{ vars.small }}{{ vars.small }} | wc -c').replace('small: ok', 'small: { env: BIG_VALUE }'));
    const r3 = await run(['run', 'limits-cmd', '--host', 'box'], { BIG_VALUE: 'y'.repeat(70 * 1024) });
    expect(r3.exitCode).toBe(2);
    expect(r3.stderr).toMatch(/steps\.1: step 2: its run command is 140\.\d KiB .*over the 124 KiB/);
    // A secret whose name has a `-`, from the inventory.
    writeFileSync(join(sb.root, 'dash.yaml'), readFileSync(join(sb.root, 'hosts.yaml'), 'utf8').replace('pin: {', 'my-pin: {'));
    const r4 = await run(['run', 'limits', '--host', 'box', '--inventory', 'dash.yaml']);
    expect(r4.exitCode).toBe(2);
    expect(r4.stderr).toMatch(/secret `my-pin` \(from the host’s vars\): a secret's name must be letters, digits and _/);
    const v = await run(['validate', '--inventory', 'dash.yaml']);
    expect(v.exitCode).toBe(2);
    // Nothing ran anywhere: no step changed the host, no run was journaled.
    expect(existsSync(join(sb.blue.dir, 'CHANGED'))).toBe(false);
    expect(readdirSync(join(sb.root, 'journal', 'runs')).length).toBe(runsBefore);
  });

  it('property: every secret, however short or odd, is redacted from any text that contains it', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 6 }).filter((s) => !s.includes('*')), fc.string(), fc.string(), (secret, a, b) => !redactor([secret])(`${a}${secret}${b}${secret}`).includes(secret)),
      { numRuns: 500 },
    );
  });

  it('property: a --var over a secret of any layer is never shown', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }).filter((s) => !s.includes('\n') && !s.includes('\0')), fc.integer({ min: 0, max: 1 }), (value, layer) => {
        const layers: Array<Record<string, never>> = [{}, {}, {}];
        (layers[layer] as Record<string, unknown>).s = { value: 'declared', secret: true };
        (layers[2] as Record<string, unknown>).s = value;
        const r = resolveVars(layers, {});
        return r.shown.s === '***' && r.secrets.s === value && typeof r.scope.s === 'object';
      }),
      { numRuns: 200 },
    );
  });
});
