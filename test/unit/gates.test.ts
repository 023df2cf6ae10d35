import { describe, expect, it } from 'vitest';
import { parseMigrationListing, runGate } from '../../src/run/gates.js';
import { LocalTransport } from '../../src/transport/local.js';

const listing = (files: Array<[string, 'applied' | 'pending', string]>, b = '@@') => files.map(([n, s, sql]) => `${b}${s} ${n}\n${sql}\n`).join('');
// Headers written as `@@@` become the boundary bg passes in BG_MIGRATION_BOUNDARY (see bg_migration_files).
const gate = (text: string) => ({ kind: 'lint-migrations' as const, cmd: `sed "s/^@@@/$BG_MIGRATION_BOUNDARY/" <<'EOF'\n${text}EOF`, label: 'pending migrations of blue do not break the running version', dialect: 'sqlite' as const });
const hostListing = (files: Array<[string, 'applied' | 'pending', string]>) => listing(files, '@@@');
const t = new LocalTransport('box');

describe('the lint gate of migrate', () => {
  it('parses the listing the host prints', () => {
    expect(parseMigrationListing(listing([['001_a.sql', 'applied', 'CREATE TABLE a(x);'], ['002 b.sql', 'pending', 'SELECT 1;\nSELECT 2;']]))).toEqual([
      { name: '001_a.sql', pending: false, sql: 'CREATE TABLE a(x);\n' },
      { name: '002 b.sql', pending: true, sql: 'SELECT 1;\nSELECT 2;\n' },
    ]);
  });

  it('passes safe pending migrations and ignores findings in applied ones', async () => {
    const r = await runGate(gate(hostListing([['001.sql', 'applied', 'CREATE TABLE t(a); CREATE TABLE u(x); DROP TABLE u;'], ['002.sql', 'pending', 'ALTER TABLE t ADD COLUMN b TEXT;']])), t, {});
    expect(r.ok).toBe(true);
    expect(r.report).toMatch(/1 pending migration\(s\) \(002\.sql\) against the applied migrations: 0 breaking/);
  });

  it('stops on a breaking pending migration, naming rule and safe alternative', async () => {
    const r = await runGate(gate(hostListing([['001.sql', 'applied', 'CREATE TABLE t(a, b);'], ['002.sql', 'pending', 'ALTER TABLE t DROP COLUMN b;']])), t, {});
    expect(r.ok).toBe(false);
    expect(r.report).toMatch(/002\.sql:1:\d+ drop-column: .*\n\s+safe alternative: /);
    expect(r.report).toContain('--allow-breaking');
    expect((await runGate(gate(hostListing([['001.sql', 'applied', 'CREATE TABLE t(a, b);'], ['002.sql', 'pending', 'ALTER TABLE t DROP COLUMN b;']])), t, { allowBreaking: true })).ok).toBe(true);
  });

  it('lets a breaking migration through when the gate allows it (a maintenance window), still reporting it', async () => {
    const files = hostListing([['001.sql', 'applied', 'CREATE TABLE t(a, b);'], ['002.sql', 'pending', 'ALTER TABLE t DROP COLUMN b;']]);
    const r = await runGate({ ...gate(files), allowBreaking: true }, t, {});
    expect(r.ok).toBe(true);
    expect(r.report).toMatch(/1 breaking\n\s+002\.sql:1:\d+ drop-column: /);
    expect(r.report).toMatch(/let through: the step allows breaking migrations, with\.allow_breaking/);
  });

  it('accepts a contract migration', async () => {
    const r = await runGate(gate(hostListing([['001.sql', 'applied', 'CREATE TABLE t(a, b);'], ['003.contract.sql', 'pending', 'ALTER TABLE t DROP COLUMN b;']])), t, {});
    expect(r.ok).toBe(true);
    expect(r.report).toMatch(/drop-column accepted/);
  });

  it('a migration file holding a line like a header cannot hide SQL from the lint: each read has its own boundary', async () => {
    // Valid SQL whose comment holds "@@applied x.sql": with a fixed marker, the DROP after it fell into an "applied" record.
    const sql = 'SELECT 1; /*\n@@applied x.sql\n*/ ALTER TABLE t DROP COLUMN b;';
    const r = await runGate(gate(hostListing([['001.sql', 'applied', 'CREATE TABLE t(a, b);'], ['002.sql', 'pending', sql]])), t, {});
    expect(r.ok).toBe(false);
    expect(r.report).toMatch(/002\.sql:\d+:\d+ drop-column/);
    // What the fixed marker made of it: the DROP in a record of its own, marked applied.
    expect(parseMigrationListing(listing([['002.sql', 'pending', sql]])).map((f) => [f.name, f.pending])).toEqual([['002.sql', true], ['x.sql', false]]);
  });

  it('judges the pending migrations against the live schema the host sends, not the applied files', async () => {
    // The applied file says t has a and b; the live database (changed by hand, or by an older
    // migrator) has t(a, c) and a trigger on it that writes c.
    const live = '@@@schema live\nCREATE TABLE t(a, c);\nCREATE TABLE log(x);\nCREATE TRIGGER t_log AFTER INSERT ON t BEGIN INSERT INTO log VALUES (NEW.c); END;\n';
    const files = hostListing([['001.sql', 'applied', 'CREATE TABLE t(a, b);'], ['002.sql', 'pending', 'DROP TABLE log;']]);
    const r = await runGate(gate(live + files), t, {});
    expect(r.ok).toBe(false);
    expect(r.report).toMatch(/against the live schema: 2 breaking/);
    expect(r.report).toMatch(/002\.sql:1:12 drop-table: drops table log/);
    expect(r.report).toMatch(/002\.sql:1:1 trigger-broken: leaves trigger t_log on t broken: every INSERT on t now fails \(no such table: main\.log\)/);
    // A statement SQLite refuses against that schema stops the gate, in SQLite's words.
    const bad = await runGate(gate(live + hostListing([['002.sql', 'pending', 'SELECT 1;\nALTER TABLE t DROP COLUMN b;']])), t, {});
    expect(bad).toMatchObject({ ok: false, report: 'pending migration 002.sql:2:27: SQLite rejects it (applied to the live schema): no such column: "b"' });
  });

  it('PostgreSQL: judges the pending migrations against the live schema (pg_dump --schema-only), not the applied files', async () => {
    // The applied file never made email UNIQUE; the live database has the constraint (added by hand).
    const live = '@@@schema live\nSET statement_timeout = 0;\nCREATE TABLE public.users (id integer NOT NULL, email text);\nALTER TABLE ONLY public.users ADD CONSTRAINT users_mail_uq UNIQUE (email);\n';
    const files = hostListing([['001.sql', 'applied', 'CREATE TABLE users (id int, email text);'], ['002.sql', 'pending', "SET lock_timeout = '5s';\nALTER TABLE users DROP CONSTRAINT users_mail_uq;"]]);
    const r = await runGate({ ...gate(live + files), dialect: 'postgres' }, t, {});
    expect(r.ok).toBe(false);
    expect(r.report).toMatch(/1 pending migration\(s\) \(002\.sql\) against the live schema: 1 breaking/);
    expect(r.report).toMatch(/002\.sql:2:24 drop-unique: drops UNIQUE constraint users_mail_uq of users/);
    // A live schema PostgreSQL's parser refuses stops the gate, saying so.
    const bad = await runGate({ ...gate('@@@schema live\nCREATE TABLE (;\n' + files), dialect: 'postgres' }, t, {});
    expect(bad.ok).toBe(false);
    expect(bad.report).toMatch(/^the database's live schema cannot be read back by PostgreSQL's parser 1:\d+: /);
  });

  it('fails when the listing cannot be read', async () => {
    const r = await runGate({ ...gate(''), cmd: 'echo "no such dir" >&2; exit 2' }, t, {});
    expect(r).toMatchObject({ ok: false, report: expect.stringContaining('cannot list the migrations: no such dir') });
  });
});
