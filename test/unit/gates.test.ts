import { describe, expect, it } from 'vitest';
import { parseMigrationListing, runGate } from '../../src/run/gates.js';
import { LocalTransport } from '../../src/transport/local.js';

const listing = (files: Array<[string, 'applied' | 'pending', string]>) => files.map(([n, s, sql]) => `@@${s} ${n}\n${sql}\n`).join('');
const gate = (text: string) => ({ kind: 'lint-migrations' as const, cmd: `cat <<'EOF'\n${text}EOF`, label: 'pending migrations of blue do not break the running version', dialect: 'sqlite' as const });
const t = new LocalTransport('box');

describe('the lint gate of migrate', () => {
  it('parses the listing the host prints', () => {
    expect(parseMigrationListing(listing([['001_a.sql', 'applied', 'CREATE TABLE a(x);'], ['002 b.sql', 'pending', 'SELECT 1;\nSELECT 2;']]))).toEqual([
      { name: '001_a.sql', pending: false, sql: 'CREATE TABLE a(x);\n' },
      { name: '002 b.sql', pending: true, sql: 'SELECT 1;\nSELECT 2;\n' },
    ]);
  });

  it('passes safe pending migrations and ignores findings in applied ones', async () => {
    const r = await runGate(gate(listing([['001.sql', 'applied', 'CREATE TABLE t(a); DROP TABLE t;'], ['002.sql', 'pending', 'ALTER TABLE t ADD COLUMN b TEXT;']])), t, {});
    expect(r.ok).toBe(true);
    expect(r.report).toMatch(/1 pending migration\(s\) \(002\.sql\): 0 breaking/);
  });

  it('stops on a breaking pending migration, naming rule and safe alternative', async () => {
    const r = await runGate(gate(listing([['001.sql', 'applied', 'CREATE TABLE t(a, b);'], ['002.sql', 'pending', 'ALTER TABLE t DROP COLUMN b;']])), t, {});
    expect(r.ok).toBe(false);
    expect(r.report).toMatch(/002\.sql:1:\d+ drop-column: .*\n\s+safe alternative: /);
    expect(r.report).toContain('--allow-breaking');
    expect((await runGate(gate(listing([['002.sql', 'pending', 'ALTER TABLE t DROP COLUMN b;']])), t, { allowBreaking: true })).ok).toBe(true);
  });

  it('accepts a contract migration', async () => {
    const r = await runGate(gate(listing([['003.contract.sql', 'pending', 'ALTER TABLE t DROP COLUMN b;']])), t, {});
    expect(r.ok).toBe(true);
    expect(r.report).toMatch(/drop-column accepted/);
  });

  it('fails when the listing cannot be read', async () => {
    const r = await runGate({ ...gate(''), cmd: 'echo "no such dir" >&2; exit 2' }, t, {});
    expect(r).toMatchObject({ ok: false, report: expect.stringContaining('cannot list the migrations: no such dir') });
  });
});
