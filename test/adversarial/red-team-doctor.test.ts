// bg doctor on a host where no built-in playbook applies: reachable and not locked is all it can
// check, and it says so instead of "all 0 checks passed" (found by the red-team pass).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bg } from '../harness/cli.js';

describe('bg doctor with nothing to check (local host)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bg-adv-doctor-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names the playbooks that do not apply and says nothing else was checked (exit 0)', async () => {
    writeFileSync(join(dir, 'hosts.yaml'), `hosts:\n  box:\n    local: true\n    journal: ${join(dir, 'journal')}\n    envs: {}\n`);
    const r = await bg(['doctor', '--host', 'box'], { cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('✔ reachable');
    expect(r.stdout).toContain('- phase1: does not apply');
    expect(r.stdout).toContain('no built-in playbook applies to this host: nothing else to check');
    expect(r.stdout).not.toContain('all 0 checks passed');
  });
});
