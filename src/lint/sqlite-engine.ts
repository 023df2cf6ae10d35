// SQLite judges its own SQL: a migration is applied, statement by statement, to a scratch database
// (sql.js) that holds the schema it starts from, and SQLite's catalog before and after each
// statement says what changed. A statement SQLite rejects is an error at its position, worded as
// SQLite words it.
import type { SqlComment, RawFinding, Span } from './accept.js';
import { sqliteEngine, type SqlJsDatabase } from './engines.js';
import { brokenDependents, pagesTouched, readCatalog, schemaVersion, type Catalog, type TableCat } from './sqlite-catalog.js';
import { code, dmlShape, mayCopyRows, nameOf, tokenize, turnsForeignKeysOff, type Token } from './sqlite-lex.js';

/** A statement SQLite refused: where (offset in the source) and SQLite's message. */
export class SqliteRejected extends Error {
  constructor(
    readonly at: number,
    readonly reason: string,
  ) {
    super(reason);
  }
}

export interface SqliteFileResult {
  spans: Span[];
  comments: SqlComment[];
  raw: RawFinding[];
}

/** A scratch database: an empty one, or one holding a schema (SQL text such as `sqlite3 DB .schema`). */
export function scratchDatabase(schemaSql?: string): SqlJsDatabase {
  const db = new (sqliteEngine().Database)();
  if (schemaSql) loadSchema(db, schemaSql);
  return db;
}

/**
 * Runs a schema dump into `db`. What `.schema` prints but cannot be run again is skipped: SQLite's
 * own tables (sqlite_sequence, sqlite_stat1) and the tables a virtual table makes for itself.
 * Throws SqliteRejected for anything else.
 */
export function loadSchema(db: SqlJsDatabase, schemaSql: string): void {
  const it = db.iterateStatements(schemaSql);
  const iter = it[Symbol.iterator]();
  let consumed = 0;
  for (;;) {
    let r: IteratorResult<{ step(): boolean; free(): boolean }>;
    try {
      r = iter.next();
    } catch (e) {
      const msg = (e as Error).message;
      if (!/reserved for internal use|already exists/.test(msg)) throw rejection(schemaSql, code(tokenize(schemaSql)), consumed, msg, db);
      // The failed statement: skip to the next `;` after it (schema dumps are one statement a line).
      const next = schemaSql.indexOf(';\n', consumed);
      if (next < 0) return;
      consumed = next + 2;
      return loadSchema(db, schemaSql.slice(consumed));
    }
    if (r.done) return;
    try {
      while (r.value.step());
    } catch (e) {
      const msg = (e as Error).message;
      if (!/reserved for internal use|already exists|no such module/.test(msg)) throw new SqliteRejected(firstCodeAt(schemaSql, consumed), msg);
    } finally {
      r.value.free();
    }
    consumed = schemaSql.length - it.getRemainingSQL().length;
  }
}

function firstCodeAt(src: string, from: number): number {
  const t = code(tokenize(src.slice(from)))[0];
  return from + (t?.start ?? 0);
}

interface Ident {
  id: number;
  created: boolean;
  /** Name at the start of the file (tables that existed then). */
  original?: string;
}

type Event =
  | { kind: 'drop-table'; i: number; ident: Ident; before: TableCat }
  | { kind: 'rename-table'; i: number; ident: Ident; from: string; to: string }
  | { kind: 'create-table'; i: number; ident: Ident; name: string };

/** Applies one migration to `db` (which it changes) and returns its statements, comments and findings. */
export function applySqlite(src: string, db: SqlJsDatabase): SqliteFileResult {
  const tokens = tokenize(src);
  const comments: SqlComment[] = tokens.filter((t) => t.kind === 'comment').map((t) => ({ text: t.text, start: t.start, end: t.end }));
  const codeTokens = code(tokens);
  const spans: Span[] = [];
  const raw: RawFinding[] = [];
  const events: Event[] = [];
  // Row copies seen (INSERT … SELECT, CREATE TABLE … AS): statement, root pages read, written.
  const copies: Array<{ i: number; reads: Set<number>; writes: Set<number> }> = [];
  const fkOffAt: number[] = [];
  db.run('PRAGMA foreign_keys = OFF');

  let cat = readCatalog(db);
  const start = cat;
  const catAfter: Catalog[] = [];
  let broken = brokenDependents(db, cat);
  let nextId = 0;
  const idents = new Map<number, Ident>(); // by root page
  for (const t of cat.tables.values()) idents.set(t.rootpage, { id: nextId++, created: false, original: t.name.toLowerCase() });
  const identOf = (table: string | undefined): Ident | undefined => {
    const t = table === undefined ? undefined : cat.tables.get(table);
    return t ? idents.get(t.rootpage) : undefined;
  };

  const it = db.iterateStatements(src);
  const iter = it[Symbol.iterator]();
  let consumed = 0;
  for (let i = 0; ; i++) {
    let r: IteratorResult<{ getSQL(): string; step(): boolean; free(): boolean }>;
    try {
      r = iter.next();
    } catch (e) {
      throw rejection(src, codeTokens, consumed, (e as Error).message, db);
    }
    if (r.done) break;
    const st = r.value;
    const end = src.length - it.getRemainingSQL().length;
    const sqlText = st.getSQL();
    const ts = codeTokens.filter((t) => t.start >= end - sqlText.length && t.end <= end);
    const body = ts[ts.length - 1]?.text === ';' ? ts.slice(0, -1) : ts;
    const span = { start: body[0]?.start ?? end, end: body[body.length - 1]?.end ?? end };
    spans.push(span);
    consumed = end;

    if (turnsForeignKeysOff(body)) fkOffAt.push(i);
    if (mayCopyRows(body)) copies.push({ i, ...pagesTouched(db, sqlText) });
    const sv = schemaVersion(db);
    try {
      while (st.step());
    } catch (e) {
      spans.pop();
      throw rejection(src, codeTokens, span.start, (e as Error).message, db, span.end);
    } finally {
      st.free();
    }

    const dml = dmlShape(body);
    if (dml && !dml.hasWhere && !identOf(dml.key)?.created) {
      const rule = dml.verb === 'DELETE' ? 'delete-without-where' : 'update-without-where';
      raw.push({ rule, at: span.start, stmts: [i], what: `${dml.verb === 'DELETE' ? 'DELETE FROM' : 'UPDATE'} ${dml.table} without WHERE` });
    }

    if (schemaVersion(db) !== sv) {
      const after = readCatalog(db);
      diff(i, span, body, cat, after);
      const nowBroken = brokenDependents(db, after);
      for (const [key, message] of nowBroken) if (broken.get(key) !== message) reportBroken(i, span, key, message, after);
      broken = nowBroken;
      cat = after;
    }
    catAfter[i] = cat;
  }

  findRebuilds();
  return { spans, comments, raw };

  function diff(i: number, span: Span, body: Token[], before: Catalog, after: Catalog): void {
    const at = span.start;
    const byPage = new Map([...after.tables.values()].map((t) => [t.rootpage, t]));
    const oldPages = new Set([...before.tables.values()].map((t) => t.rootpage));
    for (const [key, t] of before.tables) {
      const ident = idents.get(t.rootpage)!;
      const now = byPage.get(t.rootpage);
      if (!now) {
        idents.delete(t.rootpage);
        events.push({ kind: 'drop-table', i, ident, before: t });
        continue;
      }
      if (now.name.toLowerCase() !== key) {
        events.push({ kind: 'rename-table', i, ident, from: t.name, to: now.name });
        if (!ident.created) raw.push({ rule: 'rename-table', at: actionAt(body, undefined, at), stmts: [i], what: `renames table ${t.name} to ${now.name}` });
      }
      if (!ident.created) columnChanges(i, body, at, t, now);
      // Indexes dropped while their table stays: a UNIQUE one was what upserts and duplicate checks relied on.
      for (const ix of t.indexes) {
        if (after.indexes.has(ix.name.toLowerCase()) || !ix.unique || ident.created || ix.origin !== 'c') continue;
        raw.push({ rule: 'drop-unique', at: tokenAt(body, ix.name.toLowerCase(), at), stmts: [i], what: `drops UNIQUE index ${ix.name} on ${now.name}` });
      }
    }
    for (const t of after.tables.values()) {
      if (oldPages.has(t.rootpage) && idents.has(t.rootpage)) continue;
      const ident = { id: nextId++, created: true };
      idents.set(t.rootpage, ident);
      events.push({ kind: 'create-table', i, ident, name: t.name });
    }
    for (const e of events) if (e.kind === 'drop-table' && e.i === i && !e.ident.created)
      raw.push({ rule: 'drop-table', at: tokenAt(body, e.before.name.toLowerCase(), at), stmts: [i], what: `drops table ${e.before.name}` });
  }

  function columnChanges(i: number, body: Token[], at: number, t: TableCat, now: TableCat): void {
    const oldNames = t.columns.map((c) => c.name.toLowerCase());
    const newNames = now.columns.map((c) => c.name.toLowerCase());
    const gone = t.columns.filter((c) => !newNames.includes(c.name.toLowerCase()));
    const added = now.columns.filter((c) => !oldNames.includes(c.name.toLowerCase()));
    // One column whose name changed in place, with the same type: RENAME COLUMN.
    if (gone.length === 1 && added.length === 1 && t.columns.length === now.columns.length && oldNames.indexOf(gone[0]!.name.toLowerCase()) === newNames.indexOf(added[0]!.name.toLowerCase())) {
      raw.push({ rule: 'rename-column', at: actionAt(body, gone[0]!.name.toLowerCase(), at), stmts: [i], what: `renames column ${now.name}.${gone[0]!.name} to ${added[0]!.name}` });
      return;
    }
    for (const c of gone) raw.push({ rule: 'drop-column', at: actionAt(body, c.name.toLowerCase(), at), stmts: [i], what: `drops column ${now.name}.${c.name}` });
    for (const c of added)
      if (c.notNull && (c.dflt === null || /^null$/i.test(c.dflt)) && !c.generated)
        raw.push({ rule: 'add-column-not-null', at: actionAt(body, c.name.toLowerCase(), at), stmts: [i], what: `adds column ${now.name}.${c.name} NOT NULL without a DEFAULT` });
  }

  function reportBroken(i: number, span: Span, key: string, message: string, after: Catalog): void {
    const [what, name] = [key.slice(0, key.indexOf(' ')), key.slice(key.indexOf(' ') + 1)];
    if (what === 'view') {
      raw.push({ rule: 'view-broken', at: span.start, stmts: [i], what: `leaves view ${after.views.get(name) ?? name} broken: reading it now fails (${message})` });
      return;
    }
    const table = after.tables.get(name)?.name ?? after.views.get(name) ?? name;
    const triggers = [...after.triggers].filter(([, t]) => t.table === name && new RegExp(`\\b${what}\\b`, 'i').test(t.sql.slice(0, t.sql.search(/\bON\b/i)))).map(([n]) => n);
    const names = triggers.length ? `trigger${triggers.length > 1 ? 's' : ''} ${triggers.join(', ')} on ${table}` : `a trigger on ${table}`;
    raw.push({ rule: 'trigger-broken', at: span.start, stmts: [i], what: `leaves ${names} broken: every ${what} on ${table} now fails (${message})` });
  }

  /**
   * The table-rebuild idiom, from the catalog events: a table that existed before the migration is
   * dropped, and a table this migration created takes its name (create new, copy, drop, rename; or
   * rename aside, create, copy, drop). Its drop and rename findings become one table-rebuild.
   */
  function findRebuilds(): void {
    for (const drop of events) {
      if (drop.kind !== 'drop-table' || drop.ident.created || !drop.ident.original) continue;
      const name = drop.ident.original;
      const renamedAside = events.find((e) => e.kind === 'rename-table' && e.ident === drop.ident && e.i < drop.i);
      // The new table: created under the old name after it was renamed aside, or renamed to it after the drop.
      const takes = renamedAside
        ? events.find((e) => e.kind === 'create-table' && e.i > renamedAside.i && e.name.toLowerCase() === name)
        : events.find((e) => e.kind === 'rename-table' && e.ident.created && e.i > drop.i && e.to.toLowerCase() === name);
      if (!takes) continue;
      const created = events.find((e) => e.kind === 'create-table' && e.ident === takes.ident);
      if (!created) continue;
      const first = Math.min(created.i, renamedAside?.i ?? Infinity);
      const last = Math.max(drop.i, takes.i);
      const oldPage = drop.before.rootpage;
      const newTable = [...(catAfter[last]?.tables.values() ?? [])].find((t) => idents.get(t.rootpage) === takes.ident);
      const copy = copies.filter((c) => c.i >= created.i && c.i < drop.i + 1 && c.reads.has(oldPage) && (c.i === created.i || (newTable !== undefined && writesTo(c, takes.ident))));
      const stmts = [...new Set([first, created.i, ...copy.map((c) => c.i), drop.i, renamedAside?.i ?? drop.i, takes.i])].sort((a, b) => a - b);
      // The drop and rename findings of the pattern are this one finding.
      for (let k = raw.length - 1; k >= 0; k--) {
        const f = raw[k]!;
        if ((f.rule === 'drop-table' && f.stmts[0] === drop.i) || (f.rule === 'rename-table' && renamedAside && f.stmts[0] === renamedAside.i)) raw.splice(k, 1);
      }
      const temp = renamedAside && renamedAside.kind === 'rename-table' ? renamedAside.to : created.kind === 'create-table' ? created.name : name;
      const display = start.tables.get(name)?.name ?? name;
      const details = rebuildDetails(display, drop.before, newTable, copy.length > 0, first, renamedAside !== undefined, temp);
      const lines = stmts.map((k) => lineOf(spans[k]!.start));
      raw.push({ rule: 'table-rebuild', at: spans[first]!.start, stmts, what: `rebuilds table ${display} (via ${temp}, statements on lines ${lines.join(', ')})${details.length ? `: ${details.join('; ')}` : ''}` });
    }
  }

  function writesTo(c: { writes: Set<number> }, ident: Ident): boolean {
    for (const [page, id] of idents) if (id === ident && c.writes.has(page)) return true;
    return [...c.writes].some((p) => !idents.has(p)); // the new table's page may have moved since
  }

  function rebuildDetails(display: string, old: TableCat, now: TableCat | undefined, copied: boolean, first: number, renamedFirst: boolean, temp: string): string[] {
    const out: string[] = [];
    if (!copied) out.push(`no INSERT … SELECT copies the rows of ${display}: every row is lost`);
    // The new table as the migration leaves it (indexes are often recreated after the rename).
    const target = (now && [...cat.tables.values()].find((t) => t.rootpage === now.rootpage)) ?? now;
    if (target) {
      const cols = new Map(target.columns.map((c) => [c.name.toLowerCase(), c]));
      const dropped = old.columns.filter((c) => !cols.has(c.name.toLowerCase())).map((c) => c.name);
      if (dropped.length) out.push(`drops column${dropped.length > 1 ? 's' : ''} ${dropped.join(', ')}`);
      for (const c of old.columns) {
        const n = cols.get(c.name.toLowerCase());
        if (n && norm(n.type) !== norm(c.type)) out.push(`changes the type of ${n.name} from ${c.type || '(none)'} to ${n.type || '(none)'}`);
        if (n && n.notNull && !c.notNull && n.dflt === null) out.push(`makes ${n.name} NOT NULL without a DEFAULT`);
      }
      const pk = (t: TableCat) => t.columns.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name).join(', ');
      if (pk(old) && pk(old).toLowerCase() !== pk(target).toLowerCase())
        out.push(pk(target) ? `changes the PRIMARY KEY from (${pk(old)}) to (${pk(target)})` : `loses the PRIMARY KEY (${pk(old)})`);
      for (const ix of old.indexes) {
        if (ix.origin === 'pk') continue;
        const kept = target.indexes.some((n) => (ix.origin === 'c' && n.name.toLowerCase() === ix.name.toLowerCase()) || (n.columns.join() === ix.columns.join() && (n.unique || !ix.unique)));
        if (!kept) out.push(ix.origin === 'u' ? `UNIQUE (${ix.columns.join(', ')}) is not recreated` : `${ix.unique ? 'UNIQUE index' : 'index'} ${ix.name} is not recreated`);
      }
    }
    // Tables whose foreign keys reference the old table, as things stood before the rebuild began.
    const before = catAfter[first - 1] ?? start;
    const referencing = [...before.tables.values()]
      .filter((t) => t.references.includes(display.toLowerCase()) && t.name.toLowerCase() !== display.toLowerCase() && t.name.toLowerCase() !== temp.toLowerCase())
      .map((t) => t.name);
    if (referencing.length && !fkOffAt.some((k) => k < first))
      out.push(`${referencing.join(', ')} reference${referencing.length > 1 ? '' : 's'} it and there is no PRAGMA foreign_keys=OFF: with foreign keys on, DROP TABLE ${display} deletes or cascades to their rows`);
    if (referencing.length && renamedFirst) out.push(`renaming ${display} first makes the foreign keys of ${referencing.join(', ')} follow it to ${temp} (SQLite 3.26+), which is then dropped`);
    return out;
  }

  function lineOf(offset: number): number {
    let n = 1;
    for (let k = 0; k < offset; k++) if (src.charCodeAt(k) === 10) n++;
    return n;
  }
}

function norm(t: string): string {
  return t.replace(/\s+/g, ' ').trim().toUpperCase();
}

/**
 * Where an ALTER TABLE action starts (`DROP [COLUMN] c`, `RENAME [COLUMN] c TO …`, `ADD [COLUMN] c`,
 * `RENAME TO t`): its verb before the name `key`, else the name, else `fallback`.
 */
function actionAt(body: readonly Token[], key: string | undefined, fallback: number): number {
  const k = key === undefined ? -1 : body.findIndex((t, j) => j > 2 && nameOf(t) === key && t.kind !== 'string');
  if (k < 0) return body.find((t, j) => j > 2 && /^rename$/i.test(t.text))?.start ?? fallback;
  const verb = /^column$/i.test(body[k - 1]?.text ?? '') ? body[k - 2] : body[k - 1];
  return verb && /^(drop|rename|add)$/i.test(verb.text) ? verb.start : body[k]!.start;
}

/** The offset of the first token naming `key` in a statement (the thing a finding is about), else `fallback`. */
function tokenAt(body: readonly Token[], key: string, fallback: number): number {
  return body.find((t) => nameOf(t) === key && t.kind !== 'string')?.start ?? fallback;
}

/**
 * Where SQLite's error is. A syntax error ("near X: syntax error", "incomplete input") is at the
 * first token whose statement prefix SQLite already refuses (found by preparing prefixes; nothing
 * runs); any other error is at the name it quotes, else at the statement.
 */
function rejection(src: string, codeTokens: readonly Token[], from: number, message: string, db: SqlJsDatabase, to = src.length): SqliteRejected {
  const ts = codeTokens.filter((t) => t.start >= from && t.start < to);
  const start = ts[0]?.start ?? from;
  if (/syntax error|incomplete input|unrecognized token/.test(message)) {
    const stmtEnd = ts.findIndex((t) => t.text === ';');
    const upto = stmtEnd < 0 ? ts : ts.slice(0, stmtEnd + 1);
    for (const t of upto) {
      try {
        db.prepare(src.slice(start, t.end)).free();
      } catch (e) {
        const m = (e as Error).message;
        if (/syntax error|unrecognized token/.test(m) && !/incomplete input/.test(m)) return new SqliteRejected(t.start, message);
      }
    }
    return new SqliteRejected(upto[upto.length - 1]?.start ?? start, message);
  }
  const quoted = /: (?:main\.)?"?([^"\s]+?)"?$/.exec(message)?.[1]?.toLowerCase();
  const named = quoted ? ts.find((t) => nameOf(t) === quoted || nameOf(t) === quoted.split('.').pop()) : undefined;
  return new SqliteRejected(named?.start ?? start, message);
}
