// SQLite's own catalog of a scratch database, as plain data: what a migration statement changed is
// the difference between two of these (tables by root page, so a rename is not a drop and a create).
import type { SqlJsDatabase } from './engines.js';

export interface ColumnCat {
  name: string;
  type: string;
  notNull: boolean;
  /** The DEFAULT as written, or null. */
  dflt: string | null;
  /** Position in the PRIMARY KEY (1-based), 0 if not in it. */
  pk: number;
  /** A generated column (cannot be written, needs no value). */
  generated: boolean;
}
export interface IndexCat {
  name: string;
  table: string;
  unique: boolean;
  /** c: CREATE INDEX, u: a UNIQUE constraint, pk: the PRIMARY KEY. */
  origin: string;
  columns: string[];
}
export interface TableCat {
  name: string;
  rootpage: number;
  columns: ColumnCat[];
  indexes: IndexCat[];
  /** Tables this one's foreign keys reference (lower case). */
  references: string[];
}
export interface Catalog {
  /** By lower-case name. */
  tables: Map<string, TableCat>;
  indexes: Map<string, IndexCat>;
  views: Map<string, string>;
  /** Trigger name → its table (lower case) and SQL. */
  triggers: Map<string, { table: string; sql: string }>;
}

const rows = (db: SqlJsDatabase, sql: string) => db.exec(sql)[0]?.values ?? [];

export function schemaVersion(db: SqlJsDatabase): number {
  return Number(rows(db, 'PRAGMA schema_version')[0]?.[0] ?? 0);
}

/** Four queries over the table-valued pragmas, whatever the number of tables. */
export function readCatalog(db: SqlJsDatabase): Catalog {
  const cat: Catalog = { tables: new Map(), indexes: new Map(), views: new Map(), triggers: new Map() };
  for (const [type, name, tbl, rootpage, sql] of rows(db, "SELECT type, name, tbl_name, rootpage, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")) {
    const key = String(name).toLowerCase();
    if (type === 'table') cat.tables.set(key, { name: String(name), rootpage: Number(rootpage), columns: [], indexes: [], references: [] });
    else if (type === 'view') cat.views.set(key, String(name));
    else if (type === 'trigger') cat.triggers.set(key, { table: String(tbl).toLowerCase(), sql: String(sql) });
  }
  const q = "FROM sqlite_schema m JOIN pragma_table_xinfo(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY m.name, p.cid";
  for (const [t, name, type, notnull, dflt, pk, hidden] of rows(db, `SELECT m.name, p.name, p.type, p."notnull", p.dflt_value, p.pk, p.hidden ${q}`)) {
    cat.tables.get(String(t).toLowerCase())?.columns.push({
      name: String(name),
      type: String(type ?? ''),
      notNull: Number(notnull) === 1,
      dflt: dflt === null || dflt === undefined ? null : String(dflt),
      pk: Number(pk),
      generated: Number(hidden) === 2 || Number(hidden) === 3,
    });
  }
  const ix = "FROM sqlite_schema m JOIN pragma_index_list(m.name) l WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'";
  for (const [t, name, unique, origin, cols] of rows(db, `SELECT m.name, l.name, l."unique", l.origin, (SELECT group_concat(coalesce(i.name, '<expr>'), ',') FROM pragma_index_info(l.name) i) ${ix}`)) {
    const table = String(t).toLowerCase();
    const index: IndexCat = { name: String(name), table, unique: Number(unique) === 1, origin: String(origin), columns: String(cols ?? '').toLowerCase().split(',').filter(Boolean) };
    cat.tables.get(table)?.indexes.push(index);
    cat.indexes.set(index.name.toLowerCase(), index);
  }
  const fk = "FROM sqlite_schema m JOIN pragma_foreign_key_list(m.name) f WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'";
  for (const [t, to] of rows(db, `SELECT DISTINCT m.name, f."table" ${fk}`)) cat.tables.get(String(t).toLowerCase())?.references.push(String(to).toLowerCase());
  return cat;
}

const quoteId = (s: string) => `"${s.replace(/"/g, '""')}"`;

/**
 * Views and triggers that no longer compile, each with SQLite's message: a view is prepared as
 * SELECT, a table's triggers by preparing an INSERT, UPDATE (of every column) and DELETE on it
 * (SQLite compiles the triggers a statement fires when it prepares it; nothing runs).
 */
export function brokenDependents(db: SqlJsDatabase, cat: Catalog): Map<string, string> {
  const out = new Map<string, string>();
  const compiles = (sql: string): string | undefined => {
    try {
      db.prepare(sql).free();
      return undefined;
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
  };
  for (const [key, name] of cat.views) {
    const err = compiles(`SELECT * FROM ${quoteId(name)} LIMIT 0`);
    if (err) out.set(`view ${key}`, err);
  }
  const triggered = new Set([...cat.triggers.values()].map((t) => t.table));
  for (const table of triggered) {
    const t = cat.tables.get(table);
    const name = t?.name ?? cat.views.get(table) ?? table;
    const cols = t ? t.columns.filter((c) => !c.generated).map((c) => c.name) : rows(db, `SELECT name FROM pragma_table_info(${quoteId(name).replace(/^"|"$/g, "'")})`).map((r) => String(r[0]));
    const set = cols.map((c) => `${quoteId(c)} = ${quoteId(c)}`).join(', ');
    const ops: Array<[string, string]> = [
      ['INSERT', `INSERT INTO ${quoteId(name)} DEFAULT VALUES`],
      ['UPDATE', set ? `UPDATE ${quoteId(name)} SET ${set}` : ''],
      ['DELETE', `DELETE FROM ${quoteId(name)}`],
    ];
    for (const [op, sql] of ops) {
      const err = sql ? compiles(sql) : undefined;
      if (err) out.set(`${op} ${table}`, err);
    }
  }
  return out;
}

/** Root pages a statement opens for reading and for writing (from EXPLAIN), without running it. */
export function pagesTouched(db: SqlJsDatabase, sql: string): { reads: Set<number>; writes: Set<number> } {
  const reads = new Set<number>();
  const writes = new Set<number>();
  try {
    for (const [, opcode, , p2] of rows(db, `EXPLAIN ${sql}`)) {
      if (opcode === 'OpenRead') reads.add(Number(p2));
      else if (opcode === 'OpenWrite') writes.add(Number(p2));
    }
  } catch {
    // The statement itself is then run and its error reported; EXPLAIN adds nothing to that.
  }
  return { reads, writes };
}
