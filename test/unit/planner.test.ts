import { describe, expect, it } from 'vitest';
import { loadInventory, loadPlaybook } from '../../src/cli/load.js';
import { InputError, formatProblem } from '../../src/errors.js';
import { resolveHost } from '../../src/plan/host-model.js';
import { planRun } from '../../src/plan/planner.js';

const fx = (name: string) => new URL(`../fixtures/${name}`, import.meta.url).pathname;
const inventory = loadInventory(fx('hosts.yaml')).value;
const RUN = '20261121T120000Z-abcd';

function plan(playbook: string, host = 'prod', vars: Record<string, string> = {}) {
  const pb = loadPlaybook(fx(`playbooks/${playbook}.yaml`));
  return planRun({ playbook: pb.value, source: pb.source, host: resolveHost(host, inventory.hosts[host]!), vars, runId: RUN });
}

function problems(playbook: string, host = 'prod', vars: Record<string, string> = {}): string[] {
  try {
    plan(playbook, host, vars);
  } catch (e) {
    if (e instanceof InputError) return e.problems.map((p) => formatProblem({ ...p, file: p.file.replace(/.*\//, '') }));
    throw e;
  }
  throw new Error('expected problems');
}

describe('planRun', () => {
  it('builds the exact shell commands, quoting every value', () => {
    const p = plan('release', 'prod', { release: "v2; rm -rf / #'" });
    const [mark] = p.steps;
    expect(mark).toMatchObject({
      index: 1,
      name: 'Mark the release',
      action: 'shell',
      env: 'blue',
      mutates: true,
      run: [{ cmd: `cd /home/ubuntu/TimeTracking-BLUE/server && echo 'v2; rm -rf / #'\\''' > /home/ubuntu/TimeTracking-BLUE/server/RELEASE` }],
      verify: [{ cmd: `cd /home/ubuntu/TimeTracking-BLUE/server && grep -qx 'v2; rm -rf / #'\\''' /home/ubuntu/TimeTracking-BLUE/server/RELEASE` }],
      undo: [{ cmd: 'cd /home/ubuntu/TimeTracking-BLUE/server && rm -f /home/ubuntu/TimeTracking-BLUE/server/RELEASE' }],
    });
    expect(p.vars.release).toBe("v2; rm -rf / #'");
  });

  it('expands `envs:` into one step per env, in order', () => {
    const p = plan('release');
    expect(p.steps.map((s) => `${s.index} ${s.name} ${s.env}`)).toEqual([
      '1 Mark the release blue',
      '2 Back up both databases (blue) blue',
      '3 Back up both databases (green) green',
      '4 GREEN answers green',
    ]);
  });

  it('backs up to a path derived from the run id, and verifies integrity and row counts', () => {
    const backup = plan('release').steps[1]!;
    expect(backup.mutates).toBe(false);
    // Calls of the remote library (src/remote/backup.sh): VACUUM INTO there, never cp of a live file.
    const db = '/home/ubuntu/TimeTracking-BLUE/server/database.db';
    const dst = '/home/ubuntu/bg-backups/blue-20261121T120000Z-abcd.db';
    expect(backup.run[0]!.cmd).toBe(`bg_backup ${db} /home/ubuntu/bg-backups ${dst}`);
    // Pruning: this run's copy stays, the newest 19 others in the host's run order, and any an undo still needs.
    expect(backup.run[1]!.cmd).toBe(`bg_backup_prune /home/ubuntu/bg-backups "$HOME"/.bg/runs blue blue-20261121T120000Z-abcd.db 20 '^blue-[0-9]{8}T[0-9]{6}(\\.[0-9]{3})?Z-[0-9A-Za-z]{1,32}\\.db$'`);
    expect(backup.verify.map((c) => c.cmd)).toEqual([`bg_backup_verify ${db} ${dst}`]);
    expect(backup.undo).toEqual([]);
  });

  it('gives health a retry policy from `with:`', () => {
    const health = plan('release').steps[3]!;
    expect(health.run).toEqual([]);
    expect(health.verify[0]!.retry).toEqual({ attempts: 4, intervalMs: 500, factor: 1.5, maxIntervalMs: 10_000 });
    expect(health.verify[0]!.cmd).toBe('bg_http_check http://127.0.0.1:3001/api/health 5');
  });

  it('records where the journal goes', () => {
    expect(plan('release').journalDir).toBe(`~/.bg/runs/${RUN}`);
  });

  it('reports every problem of a playbook at once, located', () => {
    const p = problems('many-problems-planned');
    expect(p).toEqual([
      expect.stringMatching(/^many-problems-planned\.yaml:7:5: steps\.1\.action: unknown action `teleport` \(known: backup, .*health.*shell.*\)/),
      expect.stringMatching(/^many-problems-planned\.yaml:11:13: steps\.2\.with\.retries: .*expected number/),
      expect.stringMatching(/^many-problems-planned\.yaml:14:5: steps\.3\.env: unknown env `purple` \(host has: blue, green\)/),
      expect.stringMatching(/^many-problems-planned\.yaml:17:13: steps\.4\.with\.command: unknown name `vars\.nope`/),
    ]);
  });

  it('requires variables declared with a null default', () => {
    expect(problems('required-var')).toEqual([expect.stringMatching(/required-var\.yaml:3:3: vars\.release: variable `release` is required: pass --var release=VALUE/)]);
    expect(plan('required-var', 'prod', { release: 'r1' }).steps[0]!.run[0]!.cmd).toBe('echo r1');
  });

  it('refuses an action that needs an env field the inventory lacks', () => {
    expect(problems('release', 'box')).toEqual(
      expect.arrayContaining([expect.stringMatching(/steps\.1\.envs\.1: unknown env `green` \(host has: blue\)/)]),
    );
  });
});

describe('host environment and path', () => {
  it('exports them, quoted, before every command', async () => {
    const { hostSchema } = await import('../../src/config/inventory-schema.js');
    const cfg = hostSchema.parse({ local: true, envs: { blue: { dir: '/b', db: 'b.db' }, green: { dir: '/g', db: 'g.db', health: 'http://127.0.0.1:1/' } }, path: ['~/.nvm/bin', '/opt/my node/bin'], environment: { PM2_HOME: "/tmp/it's" } });
    const pb = loadPlaybook(fx('playbooks/release.yaml'));
    const p = planRun({ playbook: pb.value, source: pb.source, host: resolveHost('x', cfg), vars: {}, runId: RUN });
    const prefix = `export PM2_HOME='/tmp/it'\\''s' PATH="$HOME"/.nvm/bin:'/opt/my node/bin':"$PATH"; `;
    for (const step of p.steps) for (const c of [...step.run, ...step.verify, ...step.undo]) expect(c.cmd.startsWith(prefix)).toBe(true);
  });
});
