import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bg } from '../harness/cli.js';
import { deployBlueGreen, inventoryDocument, type BlueGreen } from '../harness/pm2.js';

// Issue 7: migrate lints the migrations pending on the host before anything changes.
describe('migrate refuses a pending migration that breaks the running version', () => {
  let root: string;
  let work: string;
  let d: BlueGreen;
  const columns = (db: string) => execFileSync('sqlite3', [db, "SELECT group_concat(name) FROM pragma_table_info('time_entries')"], { encoding: 'utf8' }).trim();
  const run = (args: string[]) => bg(args, { cwd: work });

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'bgl-'));
    work = join(root, 'work');
    mkdirSync(work);
    d = await deployBlueGreen({ root, migrateTo: 'all', seed: { blue: 5, green: 5 } });
    writeFileSync(
      join(work, 'hosts.yaml'),
      inventoryDocument(d.inventoryYaml('local', { path: [d.binDir], environment: { PM2_HOME: d.pm2Home }, backups: { dir: join(root, 'bk'), keep: 5 }, journal: join(root, 'journal') })),
    );
    for (const env of [d.blue, d.green]) writeFileSync(join(env.dir, 'migrations', '004_drop_project.sql'), 'ALTER TABLE time_entries DROP COLUMN project;\n');
  }, 300_000);
  afterAll(async () => {
    await d?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('stops phase1 in pre-flight, naming the rule and the safe alternative; nothing changes', async () => {
    const before = [columns(d.blue.db), columns(d.green.db)];
    expect(before[0]).toContain('project');
    const check = await run(['plan', 'phase1', '--host', 'local', '--check']);
    expect(check.exitCode).toBe(1);
    expect(check.stdout).toMatch(/✖ pending migrations of green do not break the version still running/);
    const r = await run(['run', 'phase1', '--host', 'local']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/pre-flight failed on local/);
    expect(r.stderr).toMatch(/004_drop_project\.sql:1:\d+ drop-column: /);
    expect(r.stderr).toMatch(/safe alternative: /);
    expect(r.stderr).toContain('--allow-breaking');
    expect([columns(d.blue.db), columns(d.green.db)]).toEqual(before);
  });

  it('a contract migration, or --allow-breaking, lets it run', async () => {
    const r = await run(['run', 'phase1', '--host', 'local', '--allow-breaking']);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(columns(d.green.db)).not.toContain('project');
    // Both envs are now migrated; a new contract step passes without the flag.
    for (const env of [d.blue, d.green]) writeFileSync(join(env.dir, 'migrations', '005_drop_tag.contract.sql'), 'DROP INDEX IF EXISTS idx_nothing;\n');
    expect((await run(['run', 'phase1', '--host', 'local'])).exitCode).toBe(0);
  });
});
