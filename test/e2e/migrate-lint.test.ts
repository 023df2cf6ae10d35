import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bg } from '../harness/cli.js';
import { deployBlueGreen, inventoryDocument, type BlueGreen } from '../harness/pm2.js';
import { sshClientEnv, startSshd, type SshdHandle } from '../harness/sshd.js';

// Issue 7: migrate lints the migrations pending on the host before anything changes; issue 15:
// against the schema the host's database has (read over SSH), judged by SQLite itself.
describe('migrate refuses a pending migration that breaks the running version', () => {
  let root: string;
  let work: string;
  let d: BlueGreen;
  let sshd: SshdHandle;
  let env: Record<string, string>;
  const columns = (db: string) => execFileSync('sqlite3', [db, "SELECT group_concat(name) FROM pragma_table_info('time_entries')"], { encoding: 'utf8' }).trim();
  const run = (args: string[]) => bg(args, { cwd: work, env });

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'bgl-'));
    work = join(root, 'work');
    mkdirSync(work);
    [sshd, d] = await Promise.all([startSshd({ user: 'root' }), deployBlueGreen({ root, migrateTo: 'all', seed: { blue: 5, green: 5 } })]);
    const ssh = { host: '127.0.0.1', port: sshd.port, user: sshd.user, key: sshd.clientKeyPath };
    writeFileSync(
      join(work, 'hosts.yaml'),
      inventoryDocument(d.inventoryYaml('local', { ssh, path: [d.binDir], environment: { PM2_HOME: d.pm2Home }, backups: { dir: join(root, 'bk'), keep: 5 }, journal: join(root, 'journal') })),
    );
    env = sshClientEnv(sshd.knownHostsPath) as Record<string, string>;
    for (const env of [d.blue, d.green]) writeFileSync(join(env.dir, 'migrations', '004_drop_project.sql'), 'ALTER TABLE time_entries DROP COLUMN project;\n');
  }, 300_000);
  afterAll(async () => {
    await d?.stop();
    await sshd?.stop();
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

  it('judges against the live schema: a table only the database has, and the trigger that needs it', async () => {
    // Made by hand on GREEN's database, in no migration file: only the live schema knows them.
    execFileSync('sqlite3', [d.green.db, 'CREATE TABLE entry_log (entry_id INTEGER); CREATE TRIGGER log_entries AFTER INSERT ON time_entries BEGIN INSERT INTO entry_log VALUES (NEW.id); END;']);
    const extra = join(d.green.dir, 'migrations', '005_drop_log.sql');
    writeFileSync(extra, 'DROP TABLE entry_log;\n');
    try {
      const r = await run(['run', 'phase1', '--host', 'local']);
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toMatch(/against the live schema: 3 breaking/);
      expect(r.stderr).toMatch(/005_drop_log\.sql:1:1 trigger-broken: leaves trigger log_entries on time_entries broken: every INSERT on time_entries now fails \(no such table: main\.entry_log\)/);
      expect(r.stderr).toMatch(/005_drop_log\.sql:1:12 drop-table: drops table entry_log/);
      // A pending migration SQLite refuses against that schema: the gate says so in SQLite's words.
      writeFileSync(extra, 'ALTER TABLE time_entries DROP COLUMN no_such;\n');
      const bad = await run(['run', 'phase1', '--host', 'local']);
      expect(bad.exitCode).toBe(1);
      expect(bad.stderr).toMatch(/pending migration 005_drop_log\.sql:1:\d+: SQLite rejects it \(applied to the live schema\): no such column: "?no_such/);
    } finally {
      unlinkSync(extra);
      execFileSync('sqlite3', [d.green.db, 'DROP TRIGGER log_entries; DROP TABLE entry_log;']);
    }
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
