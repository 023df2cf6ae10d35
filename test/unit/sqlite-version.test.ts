// The sqlite3 version pre-flight: version parsing, every action's declared features against what
// its scripts really use, the host-side check run by a real sh against stand-in sqlite3 programs
// (random versions, hostile --version output, random step names), and same-machine detection.
import { functionsUsed } from '../../src/remote/library.js';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { HostConfig } from '../../src/config/inventory-schema.js';
import { sameMachineGroups, type ResolveSsh } from '../../src/cli/same-machine.js';
import { ACTIONS } from '../../src/plan/actions/index.js';
import { sqliteVersionCheck } from '../../src/plan/preflight.js';
import { MIGRATION_FEATURES, SQLITE, formatVersion, missingFeatures, parseSqliteVersion, versionNumber, type SqliteVersion } from '../../src/plan/sqlite-features.js';
import { SQLITE_NEEDS, stepSqliteNeeds } from '../../src/plan/sqlite-needs.js';
import type { PlanStep } from '../../src/plan/types.js';
import { oneStep, plan, sh } from './actions-helpers.js';

const ALL_FEATURES = [...Object.values(SQLITE), ...MIGRATION_FEATURES];

describe('parseSqliteVersion', () => {
  it('reads the version at the start of sqlite3 --version', () => {
    expect(parseSqliteVersion('3.40.1 2022-12-28 14:03:47 df5c253c0b3dd24916e4ec7cf77d3db5294cc9fd45ae7b9c5e82ad8197f3alt1')).toEqual([3, 40, 1]);
    expect(parseSqliteVersion('3.7.17 2013-05-20 00:56:22 118a3b35693b134d56ebd780123b7fd6f1497668')).toEqual([3, 7, 17]);
    expect(parseSqliteVersion('3.22.0')).toEqual([3, 22, 0]);
    expect(parseSqliteVersion('3.8')).toEqual([3, 8, 0]);
    expect(parseSqliteVersion('SQLite version 3.40.1')).toBeUndefined();
    expect(parseSqliteVersion('')).toBeUndefined();
    expect(parseSqliteVersion('3.4x')).toBeUndefined();
  });
  it('formats and orders versions as people write them', () => {
    expect(formatVersion([3, 27, 0])).toBe('3.27');
    expect(formatVersion([3, 8, 8])).toBe('3.8.8');
    expect(versionNumber([3, 9, 0]) < versionNumber([3, 16, 0])).toBe(true);
    expect(missingFeatures([SQLITE.vacuumInto, SQLITE.pragmaFunctions, SQLITE.printf], [3, 22, 0]).map((f) => f.name)).toEqual(['VACUUM INTO']);
    expect(missingFeatures([SQLITE.printf, SQLITE.vacuumInto, SQLITE.pragmaFunctions], [3, 7, 17]).map((f) => f.since)).toEqual([
      [3, 27, 0],
      [3, 16, 0],
      [3, 8, 3],
    ]);
  });
});

// One step of every built-in action, planned against the fixture inventory.
const SAMPLES: Record<string, string> = {
  backup: 'env: blue',
  migrate: 'env: green',
  'schema-check': '',
  'db-inspect': '',
  'share-db': '',
  health: 'env: blue',
  pm2: 'env: blue\nwith: { op: restart }',
  symlink: 'env: blue\nwith: { link: "{{ env.db }}", target: /x }',
  'env-set': 'env: blue\nwith: { key: A, value: b }',
  shell: 'with: { command: "true" }',
  restore: 'env: blue\nwith: { backup: 20261121T122255.123Z-3fa1 }',
  'proxy-config': '',
  switch: 'env: green',
  'release-fetch': 'env: green\nwith: { ref: v1.4.0 }',
  'release-link': 'env: green',
  'release-migrate': 'env: green\nwith: { ref: v1.4.0 }',
  'release-start': 'env: green',
  'release-gate': 'env: green',
  'release-prune': '',
  'release-switch': 'env: green',
  'release-watch': 'env: green\nwith: { window: 30s }',
  cutover: '',
  maintenance: 'with: { op: begin }',
};
// The step's commands and the code of every library function they call (src/remote/*.sh).
const withLibrary = (cmds: string[]) => [...cmds, ...functionsUsed(cmds).map((f) => f.code)].join('\n');
const scriptsOf = (s: PlanStep) => withLibrary([...s.capture, ...s.run, ...s.verify, ...s.undo, ...(s.discardCheck ?? [])].map((c) => c.cmd));

describe('declared sqlite3 needs', () => {
  for (const name of Object.keys(ACTIONS)) {
    it(`${name}: every SQLite feature its scripts use is declared (sqlite-needs.ts)`, () => {
      expect(Object.hasOwn(SAMPLES, name), `add a sample step for action ${name} to this test`).toBe(true);
      const p = plan(oneStep(name, SAMPLES[name]!));
      const text = [...p.steps.map(scriptsOf), withLibrary([...p.preflight.map((c) => c.cmd), ...p.gates.map((g) => g.cmd)])].join('\n');
      const used = ALL_FEATURES.filter((f) => f.detect.test(text)).map((f) => f.name);
      const declared = (Object.hasOwn(SQLITE_NEEDS, name) ? SQLITE_NEEDS[name]! : []).map((f) => f.name);
      expect(declared).toEqual(expect.arrayContaining(used));
      // And nothing declared that the scripts do not use (a stale declaration would refuse hosts for nothing).
      expect(used).toEqual(expect.arrayContaining(declared));
    });
  }

  it('a plan names each step that calls sqlite3 with what it needs; shell steps are the user\'s own', () => {
    const p = plan(`name: t\nsteps:\n  - { name: Mark, action: shell, with: { command: "sqlite3 x 'VACUUM INTO y'" } }\n  - { name: Back up BLUE, action: backup, env: blue }\n  - { name: Compare, action: schema-check }\n`);
    const needs = stepSqliteNeeds(p);
    expect(needs.map((n) => [n.step, n.name])).toEqual([
      [2, 'Back up BLUE'],
      [3, 'Compare'],
    ]);
  });
});

// Stand-in sqlite3 programs: print a given --version line, else run nothing.
const tmp = mkdtempSync(join(tmpdir(), 'bg-sqlite-version-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let fakes = 0;
function fakeSqlite(versionLine: string): string {
  const dir = join(tmp, `bin${fakes++}`);
  sh(`mkdir -p '${dir}'`);
  writeFileSync(join(dir, 'version'), versionLine);
  writeFileSync(join(dir, 'sqlite3'), `#!/bin/sh\n[ "$1" = --version ] && exec cat '${join(dir, 'version')}'\nexit 1\n`);
  chmodSync(join(dir, 'sqlite3'), 0o755);
  return dir;
}
const runCheck = (cmd: string, binDir: string) => sh(cmd, { PATH: `${binDir}:/usr/bin:/bin` });

describe('the host-side check (real sh)', () => {
  const needs = [
    { step: 2, name: 'Back up BLUE', features: [SQLITE.vacuumInto, SQLITE.printf, SQLITE.backupCommand] },
    { step: 4, name: 'Compare', features: [SQLITE.pragmaFunctions, SQLITE.printf] },
  ];
  const check = sqliteVersionCheck(needs)!;

  it('passes on this machine\'s real sqlite3 and prints its version and path', () => {
    const r = sh(check.cmd);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^sqlite3 3\.\d+\.\d+ \(\/.*sqlite3\)\n$/);
  });

  it('names the step, the version and the feature, and what the host has', () => {
    const dir = fakeSqlite('3.22.0 2018-01-22 18:45:57 0c55d179733b46d8d0ba4d88e01a25e10677046ee3da1d5b1581e86726f2alt1\n');
    const r = runCheck(check.cmd, dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`step 2 (Back up BLUE) needs sqlite3 ≥ 3.27 for VACUUM INTO; the host has 3.22.0 (${dir}/sqlite3)\n`);
    const old = runCheck(check.cmd, fakeSqlite('3.7.17 2013-05-20 00:56:22 118a3b35693b134d56ebd780123b7fd6f1497668\n'));
    expect(old.stderr).toContain('step 2 (Back up BLUE) needs sqlite3 ≥ 3.27 for VACUUM INTO, ≥ 3.8.3 for the printf() SQL function; the host has 3.7.17');
    expect(old.stderr).toContain('step 4 (Compare) needs sqlite3 ≥ 3.16 for PRAGMA table-valued functions');
  });

  it('no sqlite3 at all, or a --version without a version, fails with a reason', () => {
    const bare = join(tmp, 'bare');
    sh(`mkdir -p '${bare}' && ln -sf "$(command -v sh)" '${bare}/sh' && ln -sf "$(command -v head)" '${bare}/head'`);
    const none = sh(check.cmd, { PATH: bare });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("no sqlite3 on the host's PATH; steps 2, 4 need it");
    const odd = runCheck(check.cmd, fakeSqlite('SQLite version 3.40\n'));
    expect(odd.code).toBe(1);
    expect(odd.stderr).toContain('cannot read the version of');
  });

  it('property: any version passes exactly when it is at least what every step needs', () => {
    const version = fc.tuple(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 20 }));
    fc.assert(
      fc.property(version, fc.constantFrom('', ' 2022-12-28 14:03:47 df5c253c', '.1'), ([a, b, c], tail) => {
        const v: SqliteVersion = [a, b, c];
        const r = runCheck(check.cmd, fakeSqlite(`${a}.${b}.${c}${tail}\n`));
        const ok = versionNumber(v) >= versionNumber([3, 27, 0]);
        expect(r.code, r.stderr).toBe(ok ? 0 : 1);
        if (!ok) expect(r.stderr).toContain(`the host has ${a}.${b}.${c}`);
      }),
      { numRuns: 25 },
    );
  });

  it('property: hostile --version output and step names stay data (nothing runs, names print verbatim)', () => {
    const marker = join(tmp, 'pwned');
    const hostile = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.constantFrom(`3.$(touch ${marker}).0`, `3.27.0\`touch ${marker}\``, '3.a[$(touch /tmp/x)].0', "3.27.0'; touch x; '", '3.x[0].1', '999999999.1.1', '0x1B.0.0', '3.-1.0', '09.08.07'),
    );
    const name = fc.string({ minLength: 1, maxLength: 30 }).filter((s) => !s.includes('\0') && !s.includes('\n'));
    fc.assert(
      fc.property(hostile, name, (line, stepName) => {
        const c = sqliteVersionCheck([{ step: 3, name: stepName, features: [SQLITE.vacuumInto] }])!;
        const r = runCheck(c.cmd, fakeSqlite(line.replace(/\0/g, '') + '\n'));
        expect(existsSync(marker)).toBe(false);
        const v = parseSqliteVersion(line);
        // The host accepts a version only when it reads as digits and is new enough.
        if (r.code === 0) expect(v && versionNumber(v) >= versionNumber([3, 27, 0])).toBe(true);
        if (r.code !== 0 && r.stderr.startsWith('step ')) expect(r.stderr.startsWith(`step 3 (${stepName}) needs sqlite3 ≥ 3.27 for VACUUM INTO; the host has `)).toBe(true);
        expect([0, 1]).toContain(r.code);
      }),
      { numRuns: 40 },
    );
  });
});

describe('same machine and journal', () => {
  const ssh = (host: string, extra: Partial<NonNullable<HostConfig['ssh']>> = {}, journal = '~/.bg') => ({ ssh: { host, ...extra }, journal, envs: {} }) as unknown as HostConfig;
  const local = (journal = '~/.bg') => ({ local: true, journal, envs: {} }) as unknown as HostConfig;
  const none: ResolveSsh = () => undefined;

  it('two local hosts with one journal (spelled with a trailing slash) are one place; other journals are not', () => {
    const g = sameMachineGroups([{ name: 'a', config: local('/srv/j') }, { name: 'b', config: local('/srv/j/') }, { name: 'c', config: local('/srv/k') }], none);
    expect(g).toEqual([{ names: ['a', 'b'], place: { machine: 'this machine', journal: '/srv/j' } }]);
  });

  it('ssh hosts: same address, user and port; defaults filled in; a different port, user or journal differs', () => {
    const hosts = [
      { name: 'a', config: ssh('10.1.2.3', { user: 'deploy' }) },
      { name: 'b', config: ssh('10.1.2.3', { user: 'deploy', port: 22 }) },
      { name: 'c', config: ssh('10.1.2.3', { user: 'deploy', port: 2222 }) },
      { name: 'd', config: ssh('10.1.2.3', { user: 'other' }) },
      { name: 'e', config: ssh('10.1.2.3', { user: 'deploy' }, '~/.bg-e') },
    ];
    expect(sameMachineGroups(hosts, none)).toEqual([{ names: ['a', 'b'], place: { machine: 'deploy@10.1.2.3:22', journal: '~/.bg' } }]);
  });

  it('an ssh config alias resolved to the same address is the same machine; behind different jump hosts it is not', () => {
    const resolve: ResolveSsh = (alias, o) =>
      alias === 'prod' ? { host: '10.1.2.3', user: o.user ?? 'deploy', port: o.port ?? 2222, jumps: [] } : alias === 'inner' ? { host: '10.1.2.3', user: 'deploy', port: 2222, jumps: [{ host: 'bastion' }] } : undefined;
    const g = sameMachineGroups([{ name: 'a', config: ssh('prod') }, { name: 'b', config: ssh('10.1.2.3', { user: 'deploy', port: 2222 }) }, { name: 'c', config: ssh('inner') }], resolve);
    expect(g).toEqual([{ names: ['a', 'b'], place: { machine: 'deploy@10.1.2.3:2222', journal: '~/.bg' } }]);
  });
});
