import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bg, BG } from '../harness/cli.js';
import { makeSandbox, type Sandbox } from '../harness/sandbox.js';
import { envsYaml, localTarget } from './targets.js';

const PLAYBOOK = new URL('../fixtures/playbooks/e2e-journal.yaml', import.meta.url).pathname;

describe('bg init and bg completion', () => {
  it('writes hosts.yaml and playbooks/ that validate, and refuses to overwrite them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bg-init-'));
    try {
      const r = await bg(['init'], { cwd: dir });
      expect(r.exitCode, r.stderr).toBe(0);
      for (const f of ['hosts.yaml', 'playbooks/phase1.yaml', 'playbooks/phase2.yaml', 'playbooks/env.yaml', 'playbooks/drift.yaml']) expect(existsSync(join(dir, f)), f).toBe(true);
      const schemaLine = readFileSync(join(dir, 'hosts.yaml'), 'utf8').split('\n')[0]!;
      expect(schemaLine).toMatch(/^# yaml-language-server: \$schema=.*schemas\/hosts\.schema\.json$/);
      // No package.json declares bg-deploy here: the versioned URL (test/e2e/packaging.test.ts covers the node_modules path).
      expect(schemaLine.split('=')[1]).toMatch(/^https:\/\/unpkg\.com\/bg-deploy@\d+\.\d+\.\d+\/schemas\/hosts\.schema\.json$/);
      expect((await bg(['validate'], { cwd: dir })).exitCode).toBe(0);
      const before = readFileSync(join(dir, 'hosts.yaml'), 'utf8');
      const again = await bg(['init'], { cwd: dir });
      expect(again.exitCode).toBe(2);
      expect(again.stderr).toMatch(/writes nothing over existing files/);
      expect(readFileSync(join(dir, 'hosts.yaml'), 'utf8')).toBe(before);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('prints a completion script', async () => {
    const r = await bg(['completion'], { cwd: tmpdir() });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('bg --get-yargs-completions');
  });
});

describe('Ctrl-C during a run', () => {
  let sb: Sandbox;
  beforeAll(() => {
    sb = makeSandbox('bg-sigint-');
    writeFileSync(join(sb.root, 'hosts.yaml'), `hosts:\n${localTarget.hostYaml('box', envsYaml(sb, 'http://127.0.0.1:1/'))}`);
  });
  afterAll(() => sb.remove());

  it('stops the running step, rolls back, releases the lock and exits 1', async () => {
    const envBefore = readFileSync(join(sb.blue.dir, '.env'), 'utf8');
    const child = execa('node', [BG, 'run', PLAYBOOK, '--host', 'box', '--var', 'tag=int', '--var', 'pause=30'], { cwd: sb.root, env: { CI: 'true', NO_COLOR: '1' }, reject: false });
    for (let i = 0; i < 100 && !existsSync(join(sb.green.dir, 'MARK-int')); i++) await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGINT');
    const r = await child;
    expect(r.exitCode, String(r.stderr)).toBe(1);
    expect(String(r.stderr)).toContain('interrupted (SIGINT); stopping the running step and rolling back');
    expect(String(r.stderr)).toMatch(/box: rolled back/);
    expect(existsSync(join(sb.green.dir, 'MARK-int'))).toBe(false);
    expect(readFileSync(join(sb.blue.dir, '.env'), 'utf8')).toBe(envBefore);
    expect(existsSync(join(sb.root, 'journal', 'lock'))).toBe(false);
  });
});
