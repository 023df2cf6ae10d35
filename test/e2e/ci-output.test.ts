import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bg } from '../harness/cli.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { envsYaml, localTarget } from './targets.js';

const fixture = (name: string) => new URL(`../fixtures/playbooks/${name}.yaml`, import.meta.url).pathname;
const SECRET = "s3cr3t-'$(touch /tmp/bg-pwned)'-value";

describe('CI output and secrets', () => {
  let sb: Sandbox;
  const run = (args: string[], env: Record<string, string | undefined> = {}) =>
    bg(args, { cwd: sb.root, env: { NO_COLOR: undefined, E2E_DEPLOY_TOKEN: SECRET, E2E_PLAIN: 'plain-value', ...env } });

  beforeAll(() => {
    sb = makeSandbox('bg-ci-');
    writeFileSync(join(sb.root, 'hosts.yaml'), `hosts:\n${localTarget.hostYaml('box', envsYaml(sb, 'http://127.0.0.1:1/'))}`);
  });
  afterAll(() => sb.remove());

  it('GitHub Actions: groups, an error annotation, a step summary, no escape codes', async () => {
    const summary = join(sb.root, 'summary.md');
    const r = await run(['run', fixture('e2e-failing-verify'), '--host', 'box'], { CI: 'true', GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: summary, GITHUB_SERVER_URL: 'https://github.example', GITHUB_REPOSITORY: 'acme/app', GITHUB_RUN_ID: '42' });
    expect(r.exitCode).toBe(1);
    const all = r.stdout + r.stderr;
    expect(all).not.toMatch(/\u001b\[/);
    expect(r.stdout).toMatch(/^::group::box · 1\. Write a marker$/m);
    expect(r.stdout).toMatch(/^::endgroup::$/m);
    expect(r.stdout).toMatch(/^::error title=bg%3A "Claim something false" failed on box%3A verify exited 1::.*test -f \/nonexistent\/file.*the file is not there/m);
    const md = readFileSync(summary, 'utf8');
    expect(md).toContain('## bg: ');
    expect(md).toMatch(/\| 1\. Write a marker \| ✔ done, ↩ undone \|/);
    expect(md).toMatch(/\| 2\. Claim something false \| ✖ failed/);
    // The run URL is recorded with the run (history shows it).
    expect((await run(['history', '--host', 'box'])).stdout).toContain('https://github.example/acme/app/actions/runs/42');
  });

  it('plain CI output has no escape codes either', async () => {
    // NO_COLOR and FORCE_COLOR unset: only bg's own CI detection keeps the log plain.
    const r = await run(['run', fixture('e2e-failing-verify'), '--host', 'box'], { CI: 'true', FORCE_COLOR: undefined });
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/^✔ 1\. Write a marker$/m);
    expect(r.stderr).toContain('"Claim something false" failed on box: verify exited 1');
    expect(r.stderr).toMatch(/box: rolled back/);
    expect(r.stdout + r.stderr).not.toMatch(/\u001b\[/);
    // The check can fail: the same run with --color prints escape codes.
    const coloured = await run(['run', fixture('e2e-failing-verify'), '--host', 'box', '--color'], { CI: 'true', FORCE_COLOR: undefined });
    expect(coloured.exitCode, coloured.stderr).toBe(1);
    expect(coloured.stdout + coloured.stderr).toMatch(/\u001b\[\d+m/);
  });

  it('a secret reaches the host intact but no output, plan or journal', async () => {
    const dry = await run(['run', fixture('e2e-secret'), '--host', 'box', '--dry-run']);
    expect(dry.stdout).toContain('"$BG_SECRET_token"');
    expect(dry.stdout).toContain('token="***"');
    const outputs = [dry.stdout, dry.stderr];
    for (const extra of [[], ['--json'], ['--no-rollback']]) {
      const r = await run(['run', fixture('e2e-secret'), '--host', 'box', ...extra], { CI: 'true', GITHUB_ACTIONS: extra.length ? undefined : 'true' });
      expect(r.exitCode).toBe(1);
      outputs.push(r.stdout, r.stderr);
    }
    expect(readFileSync(join(sb.blue.dir, 'TOKEN'), 'utf8')).toBe(SECRET); // left by --no-rollback
    expect(existsSync('/tmp/bg-pwned')).toBe(false);
    expect(outputs.join('\n')).toContain('token is ***');
    expect(outputs.join('\n')).toContain('using plain-value and ***');
    for (const o of outputs) expect(o).not.toContain('s3cr3t');
    const journal = join(sb.root, 'journal', 'runs');
    for (const id of readdirSync(journal))
      for (const f of readdirSync(join(journal, id))) expect(readFileSync(join(journal, id, f), 'utf8')).not.toContain('s3cr3t');
    // The rollback needs the secret again and finds it in the environment.
    expect((await run(['rollback', '--host', 'box'])).exitCode).toBe(0);
    const missing = await run(['run', fixture('e2e-secret'), '--host', 'box'], { E2E_DEPLOY_TOKEN: undefined });
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(/e2e-secret\.yaml:3:\d+: vars\.token: variable `token` comes from the environment variable E2E_DEPLOY_TOKEN, which is not set/);
  });
});
