import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cloneSchema, lintSql, lintMigration, newSchema, SqlParseError, type Finding } from '../../src/lint/analyze.js';
import { loadEngines } from '../../src/lint/engines.js';
import { lintCommand } from '../../src/lint/command.js';
import { compareMigrationNames, expandPaths } from '../../src/lint/files.js';
import { RULES, RULE_IDS, type Dialect } from '../../src/lint/rules.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CORPUS = path.join(ROOT, 'test/fixtures/migrations');
const APP_MIGRATIONS = path.join(ROOT, 'examples/app/migrations');
const SCHEMA_FILE = path.join(ROOT, 'test/fixtures/lint-schema/sqlite.sql');
/** The schema the SQLite corpus is written against. */
const CORPUS_SCHEMA = readFileSync(SCHEMA_FILE, 'utf8');
/** The example app's schema (its migrations): for corpus files that add what CORPUS_SCHEMA already has. */
const APP_SCHEMA = readdirSync(APP_MIGRATIONS).sort().map((f) => readFileSync(path.join(APP_MIGRATIONS, f), 'utf8')).join('\n');
/**
 * Where a SQLite corpus file starts, when not from CORPUS_SCHEMA: the app's schema, or
 * CORPUS_SCHEMA plus what an earlier release of the app created (a trigger, a view).
 */
const START: Record<string, string> = {
  'safe/sqlite/create-table.sql': APP_SCHEMA,
  'safe/sqlite/add-column-nullable.sql': APP_SCHEMA,
  'safe/sqlite/add-column-not-null-default.sql': APP_SCHEMA,
  'safe/sqlite/trigger.sql': `${CORPUS_SCHEMA}\nALTER TABLE time_entries ADD COLUMN duration_min INTEGER;`,
  'breaking/sqlite/trigger-broken.sql': `${CORPUS_SCHEMA}\n${AUDIT_TRIGGER()}`,
  'breaking/sqlite/trigger-broken.contract.sql': `${CORPUS_SCHEMA}\n${AUDIT_TRIGGER()}`,
  'breaking/sqlite/view-broken.sql': `${CORPUS_SCHEMA}\nCREATE VIEW v_legacy_sessions AS SELECT id FROM legacy_sessions;`,
  'breaking/sqlite/view-broken.allow.sql': `${CORPUS_SCHEMA}\nCREATE VIEW v_legacy_sessions AS SELECT id FROM legacy_sessions;`,
};
function AUDIT_TRIGGER(): string {
  return 'CREATE TRIGGER trg_entries_audit AFTER DELETE ON time_entries BEGIN INSERT INTO audit_scratch (note) VALUES (OLD.description); END;';
}
const startOf = (rel: string) => START[rel] ?? CORPUS_SCHEMA;

beforeAll(() => loadEngines());

/**
 * The corpus: every file → its findings in source order, `rule` when it fails the lint,
 * `rule:accepted` when a `bg:allow` or a contract marker accepts it, `rule:warning` for warnings.
 * Each file is linted on its own, in its folder's dialect; SQLite files start from CORPUS_SCHEMA
 * (or START). `error L:C message`: SQLite or PostgreSQL rejects the file.
 */
const EXPECTED: Record<string, string[]> = {
  // safe: nothing to report
  'safe/sqlite/create-table.sql': [],
  'safe/sqlite/add-column-nullable.sql': [],
  'safe/sqlite/add-column-not-null-default.sql': [],
  'safe/sqlite/create-index.sql': [],
  'safe/sqlite/new-table-lifecycle.sql': [],
  'safe/sqlite/backfill-with-where.sql': [],
  'safe/sqlite/trigger.sql': [],
  'safe/sqlite/view.sql': [],
  'safe/sqlite/pragma-and-transaction.sql': [],
  'safe/sqlite/seed-upsert.sql': [],
  'safe/sqlite/comments-and-strings.sql': [],
  'safe/sqlite/ctas-archive.sql': [],
  'safe/sqlite/strict-table.sql': [],
  'safe/sqlite/temp-table.sql': [],
  'safe/sqlite/empty.sql': [],
  'safe/postgres/create-table.sql': [],
  'safe/postgres/create-index-concurrently.sql': [],
  'safe/postgres/add-column-with-default.sql': ['missing-lock-timeout:warning'],
  'safe/postgres/constraint-not-valid.sql': ['missing-lock-timeout:warning'],
  'safe/postgres/unique-using-index.sql': ['missing-lock-timeout:warning'],
  'safe/postgres/function-and-trigger.sql': [],
  'safe/postgres/relax-constraints.sql': ['missing-lock-timeout:warning'],
  'safe/postgres/enum-and-extension.sql': [],
  'safe/postgres/batched-backfill.sql': [],

  // breaking, SQLite: each rule, then its accepted forms (bg:allow; contract file name or header)
  'breaking/sqlite/drop-table.sql': ['drop-table'],
  'breaking/sqlite/drop-table.allow.sql': ['drop-table:accepted'],
  'breaking/sqlite/drop-table.header.sql': ['drop-table:accepted'],
  'breaking/sqlite/drop-column.sql': ['drop-column'],
  'breaking/sqlite/drop-column.allow.sql': ['drop-column:accepted'],
  'breaking/sqlite/drop-column.contract.sql': ['drop-column:accepted'],
  'breaking/sqlite/rename-table.sql': ['rename-table'],
  'breaking/sqlite/rename-table.allow.sql': ['rename-table:accepted'],
  'breaking/sqlite/rename-table.contract.sql': ['rename-table:accepted'],
  'breaking/sqlite/rename-column.sql': ['rename-column'],
  'breaking/sqlite/rename-column.allow.sql': ['rename-column:accepted'],
  'breaking/sqlite/rename-column.contract.sql': ['rename-column:accepted'],
  'breaking/sqlite/add-column-not-null.sql': ['add-column-not-null'],
  'breaking/sqlite/add-column-not-null.allow.sql': ['add-column-not-null:accepted'],
  'breaking/sqlite/add-column-not-null.contract.sql': ['add-column-not-null:accepted'],
  'breaking/sqlite/table-rebuild.sql': ['table-rebuild'],
  'breaking/sqlite/table-rebuild.allow.sql': ['table-rebuild:accepted'],
  'breaking/sqlite/table-rebuild.contract.sql': ['table-rebuild:accepted'],
  'breaking/sqlite/table-rebuild-rename-first.sql': ['table-rebuild'],
  'breaking/sqlite/table-rebuild-no-copy.sql': ['table-rebuild'],
  'breaking/sqlite/drop-unique.sql': ['drop-unique'],
  // More exact than the parser's guess: SQLite's catalog says idx_users_created_at is not UNIQUE,
  // so there is nothing to accept and the allow is reported as applying to nothing.
  'breaking/sqlite/drop-unique.allow.sql': ['unused-directive:warning'],
  'breaking/sqlite/drop-unique.contract.sql': ['drop-unique:accepted'],
  'breaking/sqlite/delete-without-where.sql': ['delete-without-where'],
  'breaking/sqlite/delete-without-where.allow.sql': ['delete-without-where:accepted'],
  'breaking/sqlite/delete-without-where.contract.sql': ['delete-without-where:accepted'],
  'breaking/sqlite/update-without-where.sql': ['update-without-where'],
  'breaking/sqlite/update-without-where.allow.sql': ['update-without-where:accepted'],
  'breaking/sqlite/update-without-where.contract.sql': ['update-without-where:accepted'],
  'breaking/sqlite/allow-without-reason.sql': ['allow-without-reason', 'drop-column'],
  'breaking/sqlite/allow-placement.sql': [
    'drop-column:accepted',
    'drop-column:accepted',
    'rename-column:accepted',
    'unused-directive:warning',
    'drop-table',
  ],
  'breaking/sqlite/unused-directive.sql': [
    'unused-directive:warning',
    'unused-directive:warning',
    'drop-column',
    'unused-directive:warning',
  ],
  // More exact: SQLite has no `DROP TABLE a, b` (the old parser accepted it); the migration fails there.
  'breaking/sqlite/several.sql': ['error 4:19 SQLite rejects it: near ",": syntax error'],
  // What only the catalog sees: triggers and views left broken, a statement SQLite refuses.
  'breaking/sqlite/trigger-broken.sql': ['trigger-broken', 'drop-table'],
  'breaking/sqlite/trigger-broken.contract.sql': ['trigger-broken:accepted', 'drop-table:accepted'],
  'breaking/sqlite/view-broken.sql': ['view-broken', 'drop-table'],
  'breaking/sqlite/view-broken.allow.sql': ['view-broken:accepted', 'drop-table:accepted'],
  'breaking/sqlite/rejected-by-sqlite.sql': ['error 3:38 SQLite rejects it: error in view v_entry_titles after drop column: no such column: description'],

  // breaking, PostgreSQL
  'breaking/postgres/create-index-non-concurrent.sql': ['create-index-non-concurrent'],
  'breaking/postgres/create-index-non-concurrent.allow.sql': ['create-index-non-concurrent:accepted'],
  'breaking/postgres/create-index-non-concurrent.contract.sql': ['create-index-non-concurrent:accepted'],
  'breaking/postgres/add-unique-constraint.sql': ['missing-lock-timeout:warning', 'create-index-non-concurrent'],
  'breaking/postgres/constraint-without-not-valid.sql': ['missing-lock-timeout:warning', 'constraint-without-not-valid', 'constraint-without-not-valid'],
  'breaking/postgres/constraint-without-not-valid.allow.sql': ['missing-lock-timeout:warning', 'constraint-without-not-valid:accepted'],
  'breaking/postgres/constraint-without-not-valid.contract.sql': ['missing-lock-timeout:warning', 'constraint-without-not-valid:accepted'],
  'breaking/postgres/change-column-type.sql': ['missing-lock-timeout:warning', 'change-column-type'],
  'breaking/postgres/change-column-type.allow.sql': ['missing-lock-timeout:warning', 'change-column-type:accepted'],
  'breaking/postgres/change-column-type.contract.sql': ['missing-lock-timeout:warning', 'change-column-type:accepted'],
  'breaking/postgres/set-not-null.sql': ['missing-lock-timeout:warning', 'set-not-null'],
  'breaking/postgres/set-not-null.allow.sql': ['missing-lock-timeout:warning', 'set-not-null:accepted'],
  'breaking/postgres/set-not-null.contract.sql': ['missing-lock-timeout:warning', 'set-not-null:accepted'],
  'breaking/postgres/drop-unique.sql': ['missing-lock-timeout:warning', 'drop-unique', 'drop-unique'],
  'breaking/postgres/drop-unique.allow.sql': ['missing-lock-timeout:warning', 'drop-unique:accepted'],
  'breaking/postgres/drop-unique.contract.sql': ['missing-lock-timeout:warning', 'drop-unique:accepted'],
  'breaking/postgres/drop-column-cascade.sql': ['missing-lock-timeout:warning', 'drop-column'],
  'breaking/postgres/rename-column.sql': ['missing-lock-timeout:warning', 'rename-column'],
  'breaking/postgres/add-column-not-null.sql': ['missing-lock-timeout:warning', 'add-column-not-null'],
  'breaking/postgres/truncate.sql': ['missing-lock-timeout:warning', 'delete-without-where'],
  'breaking/postgres/drop-table.sql': ['missing-lock-timeout:warning', 'drop-table'],
};

function corpusFiles(dir = CORPUS): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? corpusFiles(p) : name.endsWith('.sql') ? [path.relative(CORPUS, p)] : [];
  });
}

const dialectOf = (rel: string): Dialect => (rel.split(path.sep).includes('postgres') ? 'postgres' : 'sqlite');
const label = (f: Finding) => (f.accepted ? `${f.rule}:accepted` : f.severity === 'warning' ? `${f.rule}:warning` : f.rule);
const read = async (p: string) => (await import('node:fs/promises')).readFile(p, 'utf8');

function capture() {
  const io = { stdout: '', stderr: '', out: (s: string) => void (io.stdout += s), err: (s: string) => void (io.stderr += s) };
  return io;
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'bg-lint-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
function write(rel: string, text: string): string {
  const p = path.join(tmp, rel);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, text);
  return p;
}

describe('the corpus', () => {
  it('lists every corpus file in the table, and every table entry exists', () => {
    expect(corpusFiles().sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  it('has each breaking rule with a failing form and an accepted form', () => {
    const labels = Object.values(EXPECTED).flat();
    for (const id of RULE_IDS.filter((r) => RULES[r].acceptable)) {
      expect(labels, id).toContain(id);
      expect(labels, id).toContain(`${id}:accepted`);
    }
  });

  for (const [rel, expected] of Object.entries(EXPECTED)) {
    it(`${rel} → ${expected.length ? expected.join(', ') : 'no findings'}`, async () => {
      const file = path.join(CORPUS, rel);
      const dialect = dialectOf(rel);
      let findings: Finding[];
      try {
        findings = lintSql(await read(file), { file: rel, dialect, schema: newSchema(dialect === 'sqlite' ? startOf(rel) : undefined) });
      } catch (e) {
        if (!(e instanceof SqlParseError)) throw e;
        expect([`error ${e.line}:${e.column} ${e.problems[0]!.message}`]).toEqual(expected);
        return;
      }
      expect(findings.map(label)).toEqual(expected);
      for (const f of findings) {
        expect(f.file).toBe(rel);
        expect(f.line).toBeGreaterThan(0);
        expect(f.column).toBeGreaterThan(0);
        expect(f.message.length).toBeGreaterThan(10);
        expect(f.fix).toBe(RULES[f.rule].fix);
        expect(f.statement.length).toBeGreaterThan(0);
        expect(f.accepted ? typeof f.acceptedBecause : f.acceptedBecause).toBe(f.accepted ? 'string' : null);
      }
    });
  }

  it('the example app’s migrations are safe', async () => {
    const io = capture();
    expect(await lintCommand({ paths: [APP_MIGRATIONS] }, io)).toBe(0);
    expect(io.stdout).toMatch(/^0 breaking, 0 accepted in \d+ migrations\n$/);
    expect(io.stderr).toBe('');
  });

  it('the safe folders pass and the breaking folders fail, through the command', async () => {
    // The SQLite files are not one sequence (they start from different schemas): one by one, with --schema.
    for (const f of readdirSync(path.join(CORPUS, 'safe/sqlite'))) {
      const schema = write(`schemas/${f}`, startOf(`safe/sqlite/${f}`));
      expect(await lintCommand({ paths: [path.join(CORPUS, 'safe/sqlite', f)], schema }, capture()), f).toBe(0);
    }
    expect(await lintCommand({ paths: [path.join(CORPUS, 'safe/postgres')], dialect: 'postgres' }, capture())).toBe(0);
    expect(await lintCommand({ paths: [path.join(CORPUS, 'breaking/sqlite/drop-table.sql')], schema: SCHEMA_FILE }, capture())).toBe(1);
    expect(await lintCommand({ paths: [path.join(CORPUS, 'breaking/postgres')], dialect: 'postgres' }, capture())).toBe(1);
  });
});

describe('findings', () => {
  it('point at the change and say what it does, why it breaks and the safe alternative', () => {
    const sql = 'CREATE TABLE t (id INTEGER);\n\nALTER TABLE time_entries\n  DROP COLUMN project;\n';
    const [f] = lintSql(sql, { file: 'm.sql', dialect: 'sqlite', schema: newSchema(CORPUS_SCHEMA) });
    expect(f).toEqual({
      file: 'm.sql',
      line: 4,
      column: 3,
      rule: 'drop-column',
      severity: 'breaking',
      message: expect.stringMatching(/^drops column time_entries\.project; the version still running/),
      fix: RULES['drop-column'].fix,
      accepted: false,
      acceptedBecause: null,
      statement: 'ALTER TABLE time_entries DROP COLUMN project',
    });
  });

  it('reports the rebuild once, with what it changes when earlier migrations of the directory say so', async () => {
    const dir = path.join(tmp, 'rebuild');
    for (const f of readdirSync(APP_MIGRATIONS)) write(`rebuild/${f}`, await read(path.join(APP_MIGRATIONS, f)));
    write('rebuild/004_users.sql', 'CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL);\nCREATE UNIQUE INDEX idx_users_email ON users (email);\nCREATE TABLE invoices (id INTEGER PRIMARY KEY, entry_id INTEGER REFERENCES time_entries (id));\n');
    write(
      'rebuild/005_minutes_real.sql',
      [
        'CREATE TABLE time_entries_new (id INTEGER PRIMARY KEY AUTOINCREMENT, description TEXT NOT NULL, minutes REAL NOT NULL, created_at TEXT NOT NULL);',
        'INSERT INTO time_entries_new SELECT id, description, minutes, created_at FROM time_entries;',
        'DROP TABLE time_entries;',
        'ALTER TABLE time_entries_new RENAME TO time_entries;',
        'DROP INDEX idx_users_email;',
        '',
      ].join('\n'),
    );
    const io = capture();
    expect(await lintCommand({ paths: [dir], json: true }, io)).toBe(1);
    const out = JSON.parse(io.stdout) as { findings: Finding[] };
    expect(out.findings.map((f) => `${path.basename(f.file)}:${f.line} ${f.rule}`)).toEqual([
      '005_minutes_real.sql:1 table-rebuild',
      '005_minutes_real.sql:5 drop-unique',
    ]);
    const [rebuild, unique] = out.findings;
    expect(rebuild!.message).toContain('rebuilds table time_entries (via time_entries_new, statements on lines 1, 2, 3, 4)');
    expect(rebuild!.message).toContain('drops column project');
    expect(rebuild!.message).toContain('changes the type of minutes from INTEGER to REAL');
    expect(rebuild!.message).toContain('index idx_time_entries_created_at is not recreated');
    expect(rebuild!.message).toContain('invoices references it and there is no PRAGMA foreign_keys=OFF');
    expect(unique!.message).toMatch(/^drops UNIQUE index idx_users_email on users/);
  });

  it('knows a plain index from a UNIQUE one across the files of a directory', async () => {
    write('idx/001.sql', 'CREATE TABLE t (a, b);\nCREATE INDEX idx_a ON t (a);\nCREATE UNIQUE INDEX idx_b ON t (b);\n');
    write('idx/002.sql', 'DROP INDEX idx_a;\nDROP INDEX idx_b;\n');
    const io = capture();
    expect(await lintCommand({ paths: [path.join(tmp, 'idx')], json: true }, io)).toBe(1);
    const out = JSON.parse(io.stdout) as { findings: Finding[] };
    expect(out.findings.map((f) => `${f.line}:${f.column} ${f.rule}`)).toEqual(['2:12 drop-unique']);
  });

  it('a table renamed first, with tables referencing it, says their foreign keys follow the rename', () => {
    const schema = newSchema();
    lintSql('CREATE TABLE p (id INTEGER PRIMARY KEY);\nCREATE TABLE c (id INTEGER, p_id INTEGER REFERENCES p (id));', { file: '1.sql', schema });
    const [f] = lintSql(
      'ALTER TABLE p RENAME TO p_old;\nCREATE TABLE p (id INTEGER PRIMARY KEY, name TEXT);\nINSERT INTO p (id) SELECT id FROM p_old;\nDROP TABLE p_old;',
      { file: '2.sql', schema },
    );
    expect(f!.rule).toBe('table-rebuild');
    expect(f!.message).toContain('renaming p first makes the foreign keys of c follow it to p_old');
  });

  it('PRAGMA foreign_keys=OFF before a rebuild silences the foreign-key warning', () => {
    const schema = newSchema();
    lintSql('CREATE TABLE p (id INTEGER PRIMARY KEY);\nCREATE TABLE c (p_id INTEGER REFERENCES p (id));', { file: '1.sql', schema });
    const rebuild = 'CREATE TABLE p2 (id INTEGER PRIMARY KEY);\nINSERT INTO p2 SELECT id FROM p;\nDROP TABLE p;\nALTER TABLE p2 RENAME TO p;';
    const withPragma = lintSql(`PRAGMA foreign_keys = off;\n${rebuild}`, { file: '2.sql', schema: cloneSchema(schema) });
    expect(withPragma.map((f) => f.rule)).toEqual(['table-rebuild']);
    expect(withPragma[0]!.message).not.toContain('foreign_keys');
    const without = lintSql(rebuild, { file: '2.sql', schema: cloneSchema(schema) });
    expect(without[0]!.message).toContain('c references it and there is no PRAGMA foreign_keys=OFF');
  });

  it('reads CRLF files, a byte-order mark, and an allow on any line of a multi-line statement', () => {
    const sql = '\uFEFFALTER TABLE t\r\n  -- bg:allow drop-column unused since v2\r\n  DROP COLUMN a;\r\nDROP TABLE u;\r\n';
    const findings = lintSql(sql, { file: 'x.sql', schema: newSchema('CREATE TABLE t (a, b); CREATE TABLE u (x);') });
    expect(findings.map((f) => `${f.line}:${f.column} ${label(f)}`)).toEqual(['3:3 drop-column:accepted', '4:12 drop-table']);
  });

  it('only the PostgreSQL rules apply to PostgreSQL and the SQLite ones to SQLite', () => {
    const sql = 'CREATE INDEX i ON t (a);\nALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES u (id);\n';
    expect(lintSql('CREATE TABLE t (a);\nCREATE INDEX i ON t (a);', { file: 'x.sql', dialect: 'sqlite' })).toEqual([]);
    expect(lintSql(sql, { file: 'x.sql', dialect: 'postgres' }).map((f) => f.rule)).toEqual([
      'create-index-non-concurrent',
      'missing-lock-timeout',
      'constraint-without-not-valid',
    ]);
    const rebuild = 'CREATE TABLE n (id INT);\nINSERT INTO n SELECT id FROM t;\nDROP TABLE t;\nALTER TABLE n RENAME TO t;';
    expect(lintSql(rebuild, { file: 'x.sql', dialect: 'postgres' }).map((f) => f.rule)).toEqual(['missing-lock-timeout', 'drop-table']);
  });

  it('missing-lock-timeout (PostgreSQL, a warning): once per file, at the first ACCESS EXCLUSIVE lock on a table it did not create, unless SET lock_timeout came first', () => {
    const rules = (sql: string) => lintSql(sql, { file: 'x.sql', dialect: 'postgres' }).map((f) => `${f.line}:${f.column} ${label(f)}`);
    expect(rules('CREATE TABLE n (a int);\nALTER TABLE n ADD COLUMN b int;\nALTER TABLE t ADD COLUMN c int;\nTRUNCATE u;\n')).toEqual(['3:1 missing-lock-timeout:warning', '4:1 delete-without-where']);
    expect(rules("SET lock_timeout = '5s';\nALTER TABLE t ADD COLUMN c int;\n")).toEqual([]);
    expect(rules("BEGIN;\nSET LOCAL lock_timeout TO '2s';\nALTER TABLE t RENAME TO t2;\nCOMMIT;\n")).toEqual(['3:13 rename-table']);
    expect(rules('ALTER TABLE t VALIDATE CONSTRAINT c;\nCREATE INDEX CONCURRENTLY i ON t (a);\n')).toEqual([]);
    expect(RULES['missing-lock-timeout']).toMatchObject({ severity: 'warning', dialects: ['postgres'] });
  });

  it('without a dialect, parses as SQLite, and as PostgreSQL a file only PostgreSQL parses', () => {
    expect(lintMigration('CREATE TABLE t (a);', { file: 'a.sql' }).dialect).toBe('sqlite');
    const pg = lintMigration('ALTER TABLE t ALTER COLUMN a TYPE bigint;', { file: 'a.sql' });
    expect(pg).toMatchObject({ dialect: 'postgres', dialectDetected: true });
    expect(pg.findings.map((f) => f.rule)).toEqual(['missing-lock-timeout', 'change-column-type']);
  });

  it('a directory where one file is PostgreSQL-only is linted as PostgreSQL', async () => {
    write('pgdir/001.sql', 'CREATE INDEX CONCURRENTLY i1 ON t (a);\n');
    write('pgdir/002.sql', 'CREATE INDEX i2 ON t (b);\n');
    const io = capture();
    expect(await lintCommand({ paths: [path.join(tmp, 'pgdir')], json: true }, io)).toBe(1);
    const out = JSON.parse(io.stdout) as { files: Array<{ dialect: string }>; findings: Finding[] };
    expect(out.files.map((f) => f.dialect)).toEqual(['postgres', 'postgres']);
    expect(out.findings.map((f) => f.rule)).toEqual(['create-index-non-concurrent']);
  });

  it('a contract marker after the first statement does not count', () => {
    const findings = lintSql('DROP TABLE a;\n-- bg:contract\nDROP TABLE b;\n', { file: 'x.sql', schema: newSchema('CREATE TABLE a (x); CREATE TABLE b (x);') });
    expect(findings.map(label)).toEqual(['drop-table', 'unused-directive:warning', 'drop-table']);
  });

  it('bg:allow accepts only the rules it names, and says why', () => {
    const sql = '-- bg:allow drop-column,rename-column: both unused since v3\nALTER TABLE t DROP COLUMN a;\nDROP TABLE u;\n';
    const tu = () => newSchema('CREATE TABLE t (a, b); CREATE TABLE u (x);');
    const findings = lintSql(sql, { file: 'x.sql', schema: tu() });
    // In source order: the unused half of the comment (line 1), then the statements.
    expect(findings.map(label)).toEqual(['unused-directive:warning', 'drop-column:accepted', 'drop-table']);
    expect(findings[0]!.message).toMatch(/^`bg:allow rename-column`: the statement on line 2 has no rename-column finding/);
    expect(findings[1]!.acceptedBecause).toBe('bg:allow: both unused since v3');
    const contract = lintSql('-- bg:contract v3 cleanup\nDROP TABLE u;\n', { file: 'x.sql', schema: tu() });
    expect(contract[0]!.acceptedBecause).toBe('contract migration (-- bg:contract: v3 cleanup)');
    const named = lintSql('DROP TABLE u;\n', { file: 'migrations/009_drop_u.contract.sql', schema: tu() });
    expect(named[0]!.acceptedBecause).toBe('contract migration (file name contains ".contract.")');
  });

  it('a statement SQLite rejects is a SqlParseError at its position, in SQLite\'s words', () => {
    let err: unknown;
    try {
      lintSql('CREATE TABLE t (\n  a INT,,\n);', { file: 'bad.sql', dialect: 'sqlite' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SqlParseError);
    expect(err).toMatchObject({ file: 'bad.sql', line: 2, column: 9, exitCode: 2 });
    expect((err as Error).message).toContain('bad.sql:2:9: SQLite rejects it: near ",": syntax error');
  });
});

describe('lintCommand', () => {
  it('exit 0 with a summary when nothing breaks, 1 when something does, accepted ones do not fail', async () => {
    const ok = capture();
    expect(await lintCommand({ paths: [path.join(CORPUS, 'breaking/sqlite/drop-column.allow.sql')], schema: SCHEMA_FILE }, ok)).toBe(0);
    expect(ok.stdout).toContain('drop-column  accepted (bg:allow: replaced by project_id in v2.0, no reader left): drops column time_entries.project');
    expect(ok.stdout).toMatch(/\n0 breaking, 1 accepted in 1 migration\n$/);

    const bad = capture();
    const file = path.join(CORPUS, 'breaking/sqlite/drop-column.sql');
    expect(await lintCommand({ paths: [file], schema: SCHEMA_FILE }, bad)).toBe(1);
    expect(bad.stdout).toBe(
      [
        file,
        `  ${file}:1:26  drop-column  drops column time_entries.project; ${RULES['drop-column'].why}`,
        '      > ALTER TABLE time_entries DROP COLUMN project',
        `      safe alternative: ${RULES['drop-column'].fix}`,
        '',
        '1 breaking, 0 accepted in 1 migration',
        '',
      ].join('\n'),
    );
    expect(bad.stderr).toBe('');
  });

  it('warnings alone do not fail', async () => {
    const f = write('warn/001.sql', '-- bg:allow drop-table nothing below\n\nCREATE TABLE x (id INT);\n');
    const io = capture();
    expect(await lintCommand({ paths: [f] }, io)).toBe(0);
    expect(io.stdout).toContain('unused-directive  warning: ');
    expect(io.stdout).toContain('0 breaking, 0 accepted, 1 warning in 1 migration');
  });

  it('--json: version 1, files, findings, summary', async () => {
    const io = capture();
    const dir = path.join(CORPUS, 'breaking/sqlite');
    // One directory: a sequence; drop-table.sql starts from what drop-column.allow.sql left.
    const paths = [path.join(dir, 'drop-column.allow.sql'), path.join(dir, 'drop-table.sql')];
    expect(await lintCommand({ paths, json: true, schema: SCHEMA_FILE }, io)).toBe(1);
    const out = JSON.parse(io.stdout);
    expect(Object.keys(out)).toEqual(['version', 'files', 'findings', 'errors', 'summary']);
    expect(out.version).toBe(1);
    expect(out.files).toEqual([
      { file: paths[0], dialect: 'sqlite', dialectDetected: false, contract: false, statements: 1 },
      { file: paths[1], dialect: 'sqlite', dialectDetected: false, contract: false, statements: 1 },
    ]);
    expect(out.findings).toHaveLength(2);
    for (const f of out.findings)
      expect(Object.keys(f)).toEqual(['file', 'line', 'column', 'rule', 'severity', 'message', 'fix', 'accepted', 'acceptedBecause', 'statement']);
    expect(out.findings[0]).toMatchObject({ rule: 'drop-column', line: 1, column: 26, accepted: true, acceptedBecause: 'bg:allow: replaced by project_id in v2.0, no reader left' });
    expect(out.findings[1]).toMatchObject({ rule: 'drop-table', line: 1, column: 22, accepted: false, statement: 'DROP TABLE IF EXISTS legacy_timers' });
    expect(out.summary).toEqual({ breaking: 1, accepted: 1, warnings: 0, errors: 0 });
    expect(out.errors).toEqual([]);
    expect(io.stderr).toBe('');
  });

  it("a statement SQLite rejects: exit 2 with file:line:column in SQLite's words, the other files still linted", async () => {
    const schema = write('parse-schema.sql', 'CREATE TABLE x (a);\n');
    const good = write('parse/001_good.sql', 'CREATE TABLE t (a, b);\nDROP TABLE x;\n');
    const bad = write('parse/002_bad.sql', 'ALTER TABLE t DROP COLUMN a;\nCREATE TABLE u (a INT,, b INT);\n');
    const io = capture();
    expect(await lintCommand({ paths: [path.join(tmp, 'parse')], schema }, io)).toBe(2);
    expect(io.stderr).toBe(`bg lint: ${bad}:2:23: SQLite rejects it: near ",": syntax error\n`);
    expect(io.stdout).toContain(`${good}:2:12  drop-table`);
    expect(io.stdout).toContain('1 breaking, 0 accepted, 1 error in 1 migration');

    const json = capture();
    expect(await lintCommand({ paths: [bad], json: true }, json)).toBe(2);
    expect(JSON.parse(json.stdout).errors).toEqual([
      // Alone, it starts from what its directory's earlier migration (001_good.sql) built.
      { file: bad, line: 2, column: 23, message: 'SQLite rejects it: near ",": syntax error' },
    ]);
  });

  it("--schema: the schema the first migration starts from; a schema SQLite rejects is the schema file's error", async () => {
    const f = write('schema-run/001.sql', 'ALTER TABLE users RENAME COLUMN mail TO email;\n');
    const schema = write('schema-run.sql', 'CREATE TABLE sqlite_sequence(name,seq);\nCREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, mail TEXT);\n');
    const io = capture();
    expect(await lintCommand({ paths: [f], schema }, io)).toBe(1);
    expect(io.stdout).toContain(`${f}:1:19  rename-column  renames column users.mail to email`);
    const broken = write('schema-bad.sql', 'CREATE TABLE users (id INTEGER PRIMARY KEY,\n  mail TEXT,,);\n');
    const e = capture();
    expect(await lintCommand({ paths: [f], schema: broken }, e)).toBe(2);
    expect(e.stderr).toBe(`bg lint: ${broken}:2:13: SQLite rejects it: near ",": syntax error\n`);
    const missing = capture();
    expect(await lintCommand({ paths: [f], schema: path.join(tmp, 'nope.sql') }, missing)).toBe(2);
    expect(missing.stderr).toContain('cannot read the --schema file: ENOENT');
  });

  it('bad input is exit 2: no such path, a directory without .sql files, no paths, an unknown dialect', async () => {
    const io = capture();
    expect(await lintCommand({ paths: [path.join(tmp, 'nope.sql')] }, io)).toBe(2);
    expect(io.stderr).toBe(`bg lint: ${path.join(tmp, 'nope.sql')}: no such file or directory\n`);
    mkdirSync(path.join(tmp, 'empty-dir'), { recursive: true });
    const empty = capture();
    expect(await lintCommand({ paths: [path.join(tmp, 'empty-dir')] }, empty)).toBe(2);
    expect(empty.stderr).toContain('no .sql files in this directory');
    expect(await lintCommand({ paths: [] }, capture())).toBe(2);
    const dialect = capture();
    expect(await lintCommand({ paths: [APP_MIGRATIONS], dialect: 'mysql' as 'sqlite' }, dialect)).toBe(2);
    expect(dialect.stderr).toContain('--dialect must be sqlite or postgres');
  });

  it('--dialect postgres on a file that only SQLite parses is a parse error, not a crash', async () => {
    const f = write('sqlite-only/001.sql', 'CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT);\n');
    const io = capture();
    expect(await lintCommand({ paths: [f], dialect: 'postgres' }, io)).toBe(2);
    expect(io.stderr).toMatch(new RegExp(`^bg lint: ${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:1:\\d+: PostgreSQL’s parser rejects it: syntax error at or near "AUTOINCREMENT"`));
  });
});

describe('files', () => {
  it('expands directories to their .sql files in migration order, files as given, once each', async () => {
    for (const n of ['10_c.sql', '2_b.sql', '1_a.sql', 'notes.txt', '.hidden/9.sql', 'sub/3_x.sql']) write(`order/${n}`, 'SELECT 1;\n');
    const dir = path.join(tmp, 'order');
    const { files, problems } = await expandPaths([dir, path.join(dir, '2_b.sql'), path.join(dir, 'notes.txt')]);
    expect(files.map((f) => path.relative(dir, f))).toEqual(['1_a.sql', '2_b.sql', '10_c.sql', path.join('sub', '3_x.sql'), 'notes.txt']);
    expect(problems).toEqual([]);
    expect(['010_b.sql', '002_a.sql', '2_c.sql'].sort(compareMigrationNames)).toEqual(['002_a.sql', '2_c.sql', '010_b.sql']);
  });
});

describe('bg lint FILE without --schema', () => {
  it('starts from the schema its directory\'s earlier migrations build; their findings are not reported', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bg-lint-alone-'));
    try {
      writeFileSync(path.join(dir, '001_users.sql'), 'CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, nick TEXT);\nDROP TABLE IF EXISTS nothing_here;\n');
      writeFileSync(path.join(dir, '002_drop.sql'), 'ALTER TABLE users DROP COLUMN nick;\n');
      writeFileSync(path.join(dir, '010_later.sql'), 'DROP TABLE users;\n');
      const out: string[] = [];
      const code = await lintCommand({ paths: [path.join(dir, '002_drop.sql')], json: true }, { out: (s: string) => void out.push(s), err: (s: string) => void out.push(s) });
      const report = JSON.parse(out.join('')) as { files: Array<{ file: string }>; findings: Array<{ file: string; rule: string }>; errors: unknown[] };
      expect(report.errors).toEqual([]);
      expect(report.files.map((f) => path.basename(f.file))).toEqual(['002_drop.sql']);
      expect(report.findings.map((f) => [path.basename(f.file), f.rule])).toEqual([['002_drop.sql', 'drop-column']]);
      expect(code).toBe(1);
      // A file with no earlier migration beside it, touching a table nobody created: exit 2, saying what to give.
      const lone = path.join(dir, 'sub');
      mkdirSync(lone);
      writeFileSync(path.join(lone, '005.sql'), 'ALTER TABLE users ADD COLUMN x TEXT;\n');
      const err: string[] = [];
      expect(await lintCommand({ paths: [path.join(lone, '005.sql')] }, { out: () => undefined, err: (s: string) => void err.push(s) })).toBe(2);
      expect(err.join('')).toContain('no such table: users (the schema this migration starts from is not known: give it with --schema, or lint the whole directory)');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
