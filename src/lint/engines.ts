// The two SQL engines of `bg lint`, loaded once and lazily (their wasm costs ~50 ms to compile):
// SQLite itself (sql.js, MIT) and PostgreSQL's parser (libpg-query, MIT). Only this file knows
// where they come from.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Dialect } from './rules.js';

/** The part of sql.js's API the linter uses. */
export interface SqlJsDatabase {
  run(sql: string): unknown;
  exec(sql: string): Array<{ columns: string[]; values: unknown[][] }>;
  prepare(sql: string): { free(): boolean };
  iterateStatements(sql: string): Iterable<SqlJsStatement> & { getRemainingSQL(): string };
  export(): Uint8Array;
  close(): void;
}
export interface SqlJsStatement {
  getSQL(): string;
  step(): boolean;
  free(): boolean;
}
interface SqlJs {
  Database: new (data?: Uint8Array) => SqlJsDatabase;
}
export interface PgQuery {
  parseSync(sql: string): { stmts?: Array<{ stmt: Record<string, unknown>; stmt_location?: number; stmt_len?: number }> };
  scanSync(sql: string): { tokens: Array<{ start: number; end: number; text: string; tokenName: string }> };
}

// dist/vendor/sql.js holds the loader and wasm the package ships (scripts/vendor-sqljs.js); from
// src/ (tests without a build) the sql.js devDependency is used. Both files sit two levels below.
const VENDOR = fileURLToPath(new URL('../../dist/vendor/sql.js/', import.meta.url));
const require = createRequire(import.meta.url);

let sqlite: SqlJs | undefined;
let pg: PgQuery | undefined;

/** Loads the engine(s) a dialect needs; later calls return at once. */
export async function loadEngines(dialects: readonly Dialect[] = ['sqlite', 'postgres']): Promise<void> {
  if (dialects.includes('sqlite') && !sqlite) {
    const vendored = existsSync(VENDOR + 'sql-wasm.cjs');
    const loader = vendored ? VENDOR + 'sql-wasm.cjs' : require.resolve('sql.js');
    const wasm = vendored ? VENDOR + 'sql-wasm.wasm' : loader.replace(/sql-wasm\.js$/, 'sql-wasm.wasm');
    const init = require(loader) as (o: { wasmBinary: Uint8Array }) => Promise<SqlJs>;
    sqlite = await init({ wasmBinary: readFileSync(wasm) });
  }
  if (dialects.includes('postgres') && !pg) {
    const mod = (await import('libpg-query')) as unknown as PgQuery & { loadModule(): Promise<void> };
    await mod.loadModule();
    pg = mod;
  }
}

export function enginesLoaded(dialect: Dialect): boolean {
  return dialect === 'sqlite' ? sqlite !== undefined : pg !== undefined;
}

export function sqliteEngine(): SqlJs {
  if (!sqlite) throw new Error('bg lint: the SQLite engine is not loaded (call loadEngines first)');
  return sqlite;
}

export function pgEngine(): PgQuery {
  if (!pg) throw new Error('bg lint: the PostgreSQL parser is not loaded (call loadEngines first)');
  return pg;
}
