// Pre-flight checks as calls of the remote library (src/remote/checks.sh): exact commands, and the
// calls run through a real sh against real SQLite files, with paths that look like options.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { databaseIntact, dirExists, spaceForBackups, sqliteVersionCheck, toolPresent } from '../../src/plan/preflight.js';
import { SQLITE } from '../../src/plan/sqlite-features.js';
import type { ResolvedHost } from '../../src/plan/host-model.js';
import { sh } from './actions-helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'bg-preflight-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('pre-flight builders', () => {
  it('build one library call each, every value a quoted word', () => {
    expect(toolPresent('sqlite3').cmd).toBe('bg_tool sqlite3 --version');
    expect(dirExists("/srv/it's").cmd).toBe("bg_dir_exists '/srv/it'\\''s'");
    expect(databaseIntact('-x.db').cmd).toBe('bg_db_intact ./-x.db');
    const host = { envs: { blue: { name: 'blue', db: '/a b/db' }, green: { name: 'green', db: '/g/$(id)' }, web: { name: 'web' } } } as unknown as ResolvedHost;
    expect(spaceForBackups(host, '/srv/bk').cmd).toBe("bg_space_for /srv/bk '/a b/db' '/g/$(id)'");
    expect(sqliteVersionCheck([{ step: 2, name: "Back up 'BLUE'", features: [SQLITE.printf, SQLITE.vacuumInto] }])?.cmd).toBe(
      "bg_sqlite_check 'bg: no sqlite3 on the host'\\''s PATH; step 2 needs it' 2 'Back up '\\''BLUE'\\''' 2 3027000 '≥ 3.27 for VACUUM INTO' 3008003 '≥ 3.8.3 for the printf() SQL function'",
    );
    expect(sqliteVersionCheck([])).toBeUndefined();
  });
});

describe('pre-flight calls through a real sh', () => {
  it('quick_check, a missing database and directory, and free space, with paths that start with -', () => {
    execFileSync('sqlite3', ['./-blue.db', 'CREATE TABLE t(x); INSERT INTO t VALUES (1);'], { cwd: tmp });
    const at = (cmd: string) => sh(`cd '${tmp}' && ${cmd}`);
    expect(at(databaseIntact('-blue.db').cmd)).toMatchObject({ code: 0, stdout: 'ok\n' });
    expect(at(databaseIntact('-none.db').cmd)).toMatchObject({ code: 1, stderr: 'bg: database not found\n' });
    expect(at(dirExists('-nodir').cmd)).toMatchObject({ code: 1, stderr: 'bg: no directory ./-nodir\n' });
    const host = { envs: { blue: { name: 'blue', db: '-blue.db' } } } as unknown as ResolvedHost;
    expect(at(spaceForBackups(host, '-backups/new').cmd).stdout).toMatch(/^\d+ bytes free, \d+ needed\n$/);
    expect(at(toolPresent('sqlite3').cmd).stdout).toMatch(/^3\.\d+/);
  });
});
