import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bg } from '../harness/cli.js';
import { healthServer, type HealthServer } from '../harness/http-app.js';
import { checksumTree, makeSandbox, rowCounts, type Sandbox } from '../harness/sandbox.js';
import { targets } from './all-targets.js';
import { envsYaml } from './targets.js';

const fixture = (name: string) => new URL(`../fixtures/playbooks/${name}.yaml`, import.meta.url).pathname;

describe.each(targets())('bg run on the $name host', (target) => {
  let sb: Sandbox;
  let health: HealthServer;
  let env: Record<string, string>;
  const run = (args: string[]) => bg(args, { cwd: sb.root, env });

  beforeAll(async () => {
    await target.setup();
    sb = makeSandbox();
    health = await healthServer();
    writeFileSync(join(sb.root, 'hosts.yaml'), `hosts:\n${target.hostYaml('box', envsYaml(sb, health.url))}`);
    env = target.env();
  });
  afterAll(async () => {
    await health.stop();
    await target.teardown();
    sb.remove();
  });

  it('--dry-run and plan change nothing and print the exact commands', async () => {
    const before = sb.checksum();
    const dry = await run(['run', fixture('e2e-core'), '--host', 'box', '--dry-run', '--var', 'release=x; touch /tmp/pwned']);
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`printf '%s\\n' 'x; touch /tmp/pwned' > RELEASE`);
    expect(dry.stdout).toContain('VACUUM INTO');
    const json = await run(['plan', fixture('e2e-core'), '--host', 'box', '--json']);
    expect(JSON.parse(json.stdout)[0].steps).toHaveLength(4);
    expect(sb.checksum()).toBe(before);
  });

  it('backs up both databases, verified, and waits for the health check to come up', async () => {
    // Down until the step before the health check is done: the check must retry until it answers.
    void (async () => {
      while (!existsSync(join(sb.blue.dir, 'RELEASE'))) await new Promise((r) => setTimeout(r, 50));
      await health.start(800);
    })();
    const r = await run(['run', fixture('e2e-core'), '--host', 'box', '--var', "release=it's v2"]);
    expect(r.stderr).toBe('');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/attempt 1\/15 failed/);
    expect(r.stdout).toMatch(/box: 4 steps done/);
    const backups = readdirSync(join(sb.root, 'backups')).filter((f) => f.endsWith('.db'));
    expect(backups).toHaveLength(2);
    for (const envName of ['blue', 'green'] as const) {
      const copy = join(sb.root, 'backups', backups.find((b) => b.startsWith(envName))!);
      expect(execFileSync('sqlite3', [copy, 'PRAGMA integrity_check'], { encoding: 'utf8' }).trim()).toBe('ok');
      expect(rowCounts(copy)).toEqual(rowCounts(sb[envName].db));
    }
    expect(readFileSync(join(sb.blue.dir, 'RELEASE'), 'utf8')).toBe("it's v2\n");
    // The journal on the host holds the plan and every event.
    const runs = readdirSync(join(sb.root, 'journal', 'runs'));
    const log = readFileSync(join(sb.root, 'journal', 'runs', runs[0]!, 'log'), 'utf8');
    expect(log).toMatch(/"event":"step-start","step":3/);
    expect(log).toMatch(/"event":"run-end","detail":"done"/);
  });

  it('prunes backups to `keep`', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await run(['run', fixture('e2e-core'), '--host', 'box']);
      expect(r.exitCode, r.stderr).toBe(0);
    }
    const blue = readdirSync(join(sb.root, 'backups')).filter((f) => /^blue-.*\.db$/.test(f));
    expect(blue).toHaveLength(3);
  });

  it('stops at a failing verify with exit 1, names host, step, command and stderr, and undoes what ran', async () => {
    const r = await run(['run', fixture('e2e-failing-verify'), '--host', 'box']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('"Claim something false" failed on box: verify exited 1');
    expect(r.stderr).toContain('test -f /nonexistent/file');
    expect(r.stderr).toContain('the file is not there');
    expect(r.stderr).toMatch(/box: rolled back/);
    expect(existsSync(join(sb.blue.dir, 'MARKER'))).toBe(false);
  });

  it('a failed pre-flight names each failed check, exits 1 and changes nothing', async () => {
    const broken = join(sb.root, 'broken.yaml');
    writeFileSync(broken, readFileSync(join(sb.root, 'hosts.yaml'), 'utf8').replace('green: { dir: ' + sb.green.dir + ', db: database.db', 'green: { dir: ' + sb.green.dir + ', db: missing.db'));
    const before = checksumTree(sb.blue.dir) + checksumTree(sb.green.dir);
    const r = await run(['run', fixture('e2e-core'), '--host', 'box', '-i', broken]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/pre-flight failed on box \(1 of \d+ checks\); nothing was changed:\n  ✖ PRAGMA quick_check of .*missing\.db is ok\n\s+bg: database not found/);
    expect(checksumTree(sb.blue.dir) + checksumTree(sb.green.dir)).toBe(before);
    const check = await run(['plan', fixture('e2e-core'), '--host', 'box', '-i', broken, '--check']);
    expect(check.exitCode).toBe(1);
    expect(check.stdout).toMatch(/✔ sqlite3 is installed \(3\./);
    expect(check.stdout).toMatch(/✖ PRAGMA quick_check of .*missing\.db/);
  });

  it('--json prints one event per line', async () => {
    const r = await run(['run', fixture('e2e-core'), '--host', 'box', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(events[0]).toMatchObject({ type: 'run-start', host: 'box' });
    expect(events.at(-1)).toMatchObject({ type: 'run-end', outcome: 'done', exitCode: 0 });
    expect(events.filter((e) => e.type === 'step-done')).toHaveLength(4);
  });

  it('CI output has no escape codes', async () => {
    // Without the harness's NO_COLOR (and any FORCE_COLOR of the runner): bg itself must keep the log plain.
    const plain = { ...env, NO_COLOR: undefined, FORCE_COLOR: undefined, CI: 'true' };
    const r = await bg(['run', fixture('e2e-core'), '--host', 'box'], { cwd: sb.root, env: plain });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout, r.stdout).toMatch(/^✔ 3\. Mark the release$/m);
    expect(r.stdout).toMatch(/box: 4 steps done/);
    expect(r.stdout + r.stderr).not.toMatch(/\u001b\[/);
    // The check can fail: asked for colours, the same run does print escape codes.
    const coloured = await bg(['run', fixture('e2e-core'), '--host', 'box', '--color'], { cwd: sb.root, env: plain });
    expect(coloured.exitCode, coloured.stderr).toBe(0);
    expect(coloured.stdout).toMatch(/\u001b\[\d+m/);
  });
});
