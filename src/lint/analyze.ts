// SQL text → findings: the changes in one migration that break the app version still running on
// the old schema. SQLite migrations are applied to a scratch database by SQLite itself (sql.js,
// sqlite-engine.ts); PostgreSQL ones are read by PostgreSQL's parser (libpg-query, pg-engine.ts).
// Pass the same `SchemaState` to the migrations of one directory, in order: each file then starts
// from the schema the earlier ones left. Call `loadEngines` (engines.ts) first.
import { InputError } from '../errors.js';
import { settle, type Finding } from './accept.js';
import type { SqlJsDatabase } from './engines.js';
import { enginesLoaded, sqliteEngine } from './engines.js';
import { analyzePg, newPgKnowledge, PgRejected, type PgKnowledge } from './pg-engine.js';
import type { Dialect } from './rules.js';
import { applySqlite, loadSchema, scratchDatabase, SqliteRejected } from './sqlite-engine.js';

export type { Finding };

export interface LintOptions {
  file: string;
  /** Default: SQLite, or PostgreSQL when SQLite finds a syntax error and PostgreSQL's parser none. */
  dialect?: Dialect | undefined;
  /** The dialect was detected (from this file or its directory), not given: say so in the report. */
  dialectDetected?: boolean | undefined;
  /** The schema the migration starts from; updated with this file's changes. Default: empty. */
  schema?: SchemaState | undefined;
}

export interface LintResult {
  file: string;
  dialect: Dialect;
  /** The dialect was not given and the file parsed only as PostgreSQL. */
  dialectDetected: boolean;
  contract: boolean;
  statements: number;
  findings: Finding[];
}

/**
 * A migration SQLite or PostgreSQL's parser rejects: bad input (exit 2), at its position, in the
 * engine's own words.
 */
export class SqlParseError extends InputError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    readonly dialect: Dialect,
    readonly reason: string,
  ) {
    super([{ file, line, column, message: `${rejectedBy(dialect)}: ${reason}` }], 'migration rejected');
  }
}

export function rejectedBy(dialect: Dialect): string {
  return dialect === 'sqlite' ? 'SQLite rejects it' : 'PostgreSQL’s parser rejects it';
}

/** Thrown when a file needs PostgreSQL's parser to decide its dialect and it is not loaded yet. */
export class NeedsPostgres extends Error {}

/** The schema a sequence of migrations has reached: a scratch SQLite database, and what PostgreSQL files created. */
export interface SchemaState {
  sqlite?: SqlJsDatabase;
  /** Schema SQL not loaded yet: into the scratch database, or PostgreSQL's knowledge, when first needed. */
  schemaSql?: string;
  pg: PgKnowledge;
}

/** An empty schema, or one given as SQL (`sqlite3 DB .schema`, a --schema file). */
export function newSchema(schemaSql?: string): SchemaState {
  return { pg: newPgKnowledge(), ...(schemaSql ? { schemaSql } : {}) };
}

/** Frees the scratch database. */
export function closeSchema(s: SchemaState): void {
  s.sqlite?.close();
  delete s.sqlite;
}

/** A copy that can go on independently (the scratch database is copied). */
export function cloneSchema(s: SchemaState): SchemaState {
  return { pg: structuredClone(s.pg), sqlite: new (sqliteEngine().Database)(sqliteOf(s).export()) };
}

function sqliteOf(s: SchemaState): SqlJsDatabase {
  if (!s.sqlite) {
    s.sqlite = scratchDatabase();
    const schema = s.schemaSql;
    delete s.schemaSql;
    try {
      if (schema) loadSchema(s.sqlite, schema);
    } catch (e) {
      if (e instanceof SqliteRejected) throw schemaError(schema!, 'sqlite', e.at, e.reason);
      throw e;
    }
  }
  return s.sqlite;
}

function pgOf(s: SchemaState): PgKnowledge {
  const schema = s.schemaSql;
  delete s.schemaSql;
  try {
    if (schema) analyzePg(schema, s.pg);
  } catch (e) {
    if (e instanceof PgRejected) throw schemaError(schema!, 'postgres', e.at, e.reason);
    throw e;
  }
  return s.pg;
}

/** The starting schema (--schema, or the host's) is rejected: its problem, not the migration's. */
export class SchemaRejected extends SqlParseError {}

function schemaError(sql: string, dialect: Dialect, at: number, reason: string): SchemaRejected {
  const e = parseError(sql, 'schema', dialect, at, reason);
  return new SchemaRejected(e.file, e.line, e.column, dialect, reason);
}

/** Lints one migration. Throws `SqlParseError` when the engine rejects it. */
export function lintSql(sql: string, opts: LintOptions): Finding[] {
  return lintMigration(sql, opts).findings;
}

/** Like `lintSql`, with what the report needs besides the findings. */
export function lintMigration(sql: string, opts: LintOptions): LintResult {
  // A byte-order mark becomes a space: same offsets, and neither engine chokes on it.
  if (sql.charCodeAt(0) === 0xfeff) sql = ' ' + sql.slice(1);
  const schema = opts.schema ?? newSchema();
  const result = (dialect: Dialect, detected: boolean, r: ReturnType<typeof analyzePg>): LintResult => {
    const { findings, contract } = settle(sql, opts.file, r.spans, r.comments, r.raw);
    return { file: opts.file, dialect, dialectDetected: detected, contract: contract !== null, statements: r.spans.length, findings };
  };
  const pg = (detected: boolean): LintResult => {
    try {
      return result('postgres', detected, analyzePg(sql, pgOf(schema)));
    } catch (e) {
      if (e instanceof PgRejected) throw parseError(sql, opts.file, 'postgres', e.at, e.reason);
      throw e;
    }
  };
  if (opts.dialect === 'postgres') return pg(opts.dialectDetected ?? false);
  try {
    return result('sqlite', opts.dialectDetected ?? false, applySqlite(sql, sqliteOf(schema)));
  } catch (e) {
    if (!(e instanceof SqliteRejected)) throw e;
    const rejected = parseError(sql, opts.file, 'sqlite', e.at, e.reason);
    if (opts.dialect === undefined && /syntax error|unrecognized token/.test(e.reason)) {
      if (!enginesLoaded('postgres')) throw new NeedsPostgres(opts.file);
      try {
        return pg(true);
      } catch (pgError) {
        if (!(pgError instanceof SqlParseError)) throw pgError;
      }
    }
    throw rejected;
  }
}

function parseError(sql: string, file: string, dialect: Dialect, at: number, reason: string): SqlParseError {
  const before = sql.slice(0, at);
  const line = before.split('\n').length;
  const column = at - (before.lastIndexOf('\n') + 1) + 1;
  return new SqlParseError(file, line, column, dialect, reason);
}
