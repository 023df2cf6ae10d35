// SQL text → findings: the changes in one migration that break the app version still running on
// the old schema. Pure: no I/O, no clock. `lintSql` is the entry point for one migration;
// pass the same `SchemaKnowledge` to the migrations of one directory, in order, so that later
// files know what earlier ones created (which indexes are UNIQUE, a table's columns).
import { InputError } from '../errors.js';
import { parseSql, type ParsedStatement, type SqlComment, type Statement } from './parse.js';
import { RULES, isRuleId, type Dialect, type RuleId, type Severity } from './rules.js';

export interface Finding {
  file: string;
  line: number;
  column: number;
  rule: RuleId;
  severity: Severity;
  /** What this statement does and why that breaks the version still running. */
  message: string;
  /** The safe alternative. */
  fix: string;
  accepted: boolean;
  /** Why it is accepted: the `bg:allow` reason, or that the file is a contract migration. */
  acceptedBecause: string | null;
  /** The statement (whitespace collapsed, shortened), or the comment for findings about comments. */
  statement: string;
}

export interface LintOptions {
  file: string;
  /** Default: SQLite, or PostgreSQL when the file only parses as PostgreSQL. */
  dialect?: Dialect | undefined;
  /** The dialect was detected (from this file or its directory), not given: say so in the report. */
  dialectDetected?: boolean | undefined;
  /** What earlier migrations of the same directory created; updated with this file's changes. */
  schema?: SchemaKnowledge | undefined;
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

/** A migration that does not parse: bad input (exit 2), with its location. */
export class SqlParseError extends InputError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    readonly dialect: Dialect,
    readonly reason: string,
  ) {
    super([{ file, line, column, message: `syntax error (${dialect}): ${reason}` }], 'migration does not parse');
  }
}

// ---------------------------------------------------------------------------------------------
// What the linted migrations told us about the schema

export interface ColumnInfo {
  name: string;
  type: string;
}
export interface TableInfo {
  name: string;
  /** Unknown for CREATE TABLE … AS SELECT. */
  columns: Map<string, ColumnInfo> | null;
}
export interface IndexInfo {
  name: string;
  table: string;
  unique: boolean;
}
type ConstraintKind = 'unique' | 'primary-key' | 'foreign-key' | 'check' | 'exclude' | 'other';
export interface ConstraintInfo {
  name: string;
  table: string;
  kind: ConstraintKind;
}
export interface SchemaKnowledge {
  tables: Map<string, TableInfo>;
  indexes: Map<string, IndexInfo>;
  constraints: Map<string, ConstraintInfo>;
  /** Referenced table → the tables whose foreign keys reference it. */
  references: Map<string, Set<string>>;
}

export function newSchema(): SchemaKnowledge {
  return { tables: new Map(), indexes: new Map(), constraints: new Map(), references: new Map() };
}

// ---------------------------------------------------------------------------------------------
// Entry points

/** Lints one migration. Throws `SqlParseError` when it does not parse. */
export function lintSql(sql: string, opts: LintOptions): Finding[] {
  return lintMigration(sql, opts).findings;
}

/** Like `lintSql`, with what the report needs besides the findings. */
export function lintMigration(sql: string, opts: LintOptions): LintResult {
  // A byte-order mark becomes a space: same offsets, and the parser does not choke on it.
  if (sql.charCodeAt(0) === 0xfeff) sql = ' ' + sql.slice(1);
  let dialect: Dialect = opts.dialect ?? 'sqlite';
  let parsed = parseSql(sql, dialect);
  let detected = opts.dialectDetected ?? false;
  if (!parsed.ok && opts.dialect === undefined) {
    const pg = parseSql(sql, 'postgres');
    if (pg.ok) {
      parsed = pg;
      dialect = 'postgres';
      detected = true;
    }
  }
  if (!parsed.ok) throw new SqlParseError(opts.file, parsed.line, parsed.column, dialect, parsed.message);
  const linter = new FileLinter(sql, opts.file, dialect, opts.schema ?? newSchema(), parsed.statements, parsed.comments);
  const findings = linter.run();
  return {
    file: opts.file,
    dialect,
    dialectDetected: detected,
    contract: linter.contract !== null,
    statements: parsed.statements.length,
    findings,
  };
}

// ---------------------------------------------------------------------------------------------
// Node helpers (loosely typed where the parser's unions are wide)

interface AnyNode {
  type: string;
  range?: [number, number];
  [k: string]: unknown;
}

function isNode(v: unknown): v is AnyNode {
  return typeof v === 'object' && v !== null && typeof (v as { type?: unknown }).type === 'string';
}

/** Unquoted, case-folded last part of a (possibly schema-qualified, aliased) table or index name. */
function nameKey(n: unknown): string | undefined {
  if (!isNode(n)) return undefined;
  switch (n.type) {
    case 'identifier':
      return String(n.name).toLowerCase();
    case 'member_expr':
      return nameKey(n.property);
    case 'alias':
      return nameKey(n.expr);
    case 'table_with_inheritance':
    case 'table_without_inheritance':
    case 'indexed_table':
    case 'not_indexed_table':
    case 'partitioned_table':
      return nameKey(n.table);
    default:
      return undefined;
  }
}

function keywordNames(kw: unknown): string[] {
  const list = Array.isArray(kw) ? kw : [kw];
  return list.filter(isNode).map((k) => String(k.name).toUpperCase());
}

/** Every node below `root` (depth first), not descending into `stopAt` types. */
function* walk(root: unknown, stopAt: ReadonlySet<string> = new Set()): Generator<AnyNode> {
  if (Array.isArray(root)) {
    for (const x of root) yield* walk(x, stopAt);
    return;
  }
  if (!isNode(root)) return;
  yield root;
  if (stopAt.has(root.type)) return;
  for (const [k, v] of Object.entries(root)) {
    if (k === 'leading' || k === 'trailing' || k === 'range') continue;
    if (typeof v === 'object' && v !== null) yield* walk(v, stopAt);
  }
}

/** Tables read in FROM clauses below `root`. */
function tablesRead(root: unknown): Set<string> {
  const out = new Set<string>();
  for (const n of walk(root)) {
    if (n.type !== 'from_clause') continue;
    for (const m of walk(n.expr)) {
      const k = nameKey(m);
      if (k && (m.type === 'identifier' || m.type === 'member_expr')) out.add(k);
    }
  }
  return out;
}

function hasWhere(clauses: readonly { type: string }[]): boolean {
  return clauses.some((c) => c.type === 'where_clause' || c.type === 'where_current_of_clause');
}

// ---------------------------------------------------------------------------------------------
// The linter of one file

interface Stmt extends ParsedStatement {
  i: number;
  startLine: number;
  endLine: number;
}

interface RawFinding {
  rule: RuleId;
  /** Offset the finding points at. */
  at: number;
  /** Statements whose `bg:allow` may accept it. */
  stmts: number[];
  message: string;
  statement: string;
  accepted?: string;
}

interface Rebuild {
  table: string;
  temp: string;
  /** Statement indexes of the pattern, ascending. */
  stmts: number[];
  copied: boolean;
}

interface Directive {
  kind: 'allow' | 'contract';
  comment: SqlComment;
  rest: string;
}

class FileLinter {
  private readonly lineStarts: number[] = [0];
  private readonly stmts: Stmt[];
  private readonly raw: RawFinding[] = [];
  /** Tables created by this file so far: the running version cannot depend on them. */
  private readonly createdHere = new Set<string>();
  private readonly indexesCreatedHere = new Set<string>();
  private readonly consumed = new Set<string>();
  private readonly rebuilds = new Map<number, Rebuild>();
  contract: string | null = null;

  constructor(
    private readonly src: string,
    private readonly file: string,
    private readonly dialect: Dialect,
    private readonly schema: SchemaKnowledge,
    statements: ParsedStatement[],
    private readonly comments: SqlComment[],
  ) {
    for (let i = 0; i < src.length; i++) if (src[i] === '\n') this.lineStarts.push(i + 1);
    this.stmts = statements.map((s, i) => ({
      ...s,
      i,
      startLine: this.pos(s.start).line,
      endLine: this.pos(Math.max(s.start, s.end - 1)).line,
    }));
  }

  run(): Finding[] {
    if (this.dialect === 'sqlite') this.findRebuilds();
    for (const s of this.stmts) this.statement(s);
    this.accept();
    return this.raw
      .sort((a, b) => a.at - b.at)
      .map((r) => {
        const { line, column } = this.pos(r.at);
        const rule = RULES[r.rule];
        return {
          file: this.file,
          line,
          column,
          rule: r.rule,
          severity: rule.severity,
          message: r.message,
          fix: rule.fix,
          accepted: r.accepted !== undefined,
          acceptedBecause: r.accepted ?? null,
          statement: r.statement,
        };
      });
  }

  // ---- positions and text

  pos(offset: number): { line: number; column: number } {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - this.lineStarts[lo]! + 1 };
  }

  private text(n: unknown): string {
    if (isNode(n) && n.range) return this.src.slice(n.range[0], n.range[1]);
    return '?';
  }

  private excerpt(s: Stmt): string {
    const t = this.src.slice(s.start, s.end).replace(/\s+/g, ' ').trim();
    return t.length > 120 ? `${t.slice(0, 119)}…` : t;
  }

  private add(rule: RuleId, s: Stmt, at: unknown, what: string, stmts: number[] = [s.i]): void {
    if (!RULES[rule].dialects.includes(this.dialect)) return;
    const offset = isNode(at) && at.range ? at.range[0] : s.start;
    this.raw.push({ rule, at: offset, stmts, message: `${what}; ${RULES[rule].why}`, statement: this.excerpt(s) });
  }

  private isNew(table: string | undefined): boolean {
    return table !== undefined && this.createdHere.has(table);
  }

  // ---- the SQLite table-rebuild pattern, found before the statements are checked one by one

  private findRebuilds(): void {
    const creates = new Map<string, number>();
    const summaries = this.stmts.map((s) => summarize(s.node));
    summaries.forEach((m, i) => {
      if (m.creates && !creates.has(m.creates)) creates.set(m.creates, i);
    });
    const createdBefore = (t: string, i: number) => (creates.get(t) ?? Infinity) < i;
    const copyStmts = (into: string, from: string, lo: number, hi: number) =>
      summaries.flatMap((m, i) => (i >= lo && i <= hi && m.copiesInto === into && m.reads.has(from) ? [i] : []));

    summaries.forEach((m, r) => {
      if (!m.renameFrom || !m.renameTo) return;
      const [from, to] = [m.renameFrom, m.renameTo];
      // A: CREATE TABLE new_x …; INSERT INTO new_x SELECT … FROM x; DROP TABLE x; ALTER TABLE new_x RENAME TO x
      const c = creates.get(from);
      if (c !== undefined && c < r) {
        const d = lastIndex(summaries, (x, i) => i < r && x.drops.includes(to));
        if (d >= 0 && !createdBefore(to, d)) {
          const cleanup = summaries.flatMap((x, i) => (i < c && x.drops.includes(from) ? [i] : []));
          for (const i of cleanup) this.consumed.add(`drop:${i}:${from}`);
          this.consumed.add(`drop:${d}:${to}`).add(`rename:${r}`);
          const copy = copyStmts(from, to, c, d);
          const stmts = [...new Set([...cleanup, c, ...copy, d, r])].sort((a, b) => a - b);
          this.rebuilds.set(stmts[0]!, { table: to, temp: from, stmts, copied: copy.length > 0 });
          return;
        }
      }
      // B: ALTER TABLE x RENAME TO x_old; CREATE TABLE x …; INSERT INTO x SELECT … FROM x_old; DROP TABLE x_old
      if (!createdBefore(from, r)) {
        const c2 = summaries.findIndex((x, i) => i > r && x.creates === from);
        const d2 = summaries.findIndex((x, i) => i > r && x.drops.includes(to));
        if (c2 >= 0 && d2 >= 0) {
          this.consumed.add(`drop:${d2}:${to}`).add(`rename:${r}`);
          const copy = copyStmts(from, to, c2, d2);
          const stmts = [...new Set([r, c2, ...copy, d2])].sort((a, b) => a - b);
          this.rebuilds.set(r, { table: from, temp: to, stmts, copied: copy.length > 0 });
        }
      }
    });
  }

  private reportRebuild(rb: Rebuild, s: Stmt): void {
    const old = this.schema.tables.get(rb.table);
    const create = rb.stmts.map((i) => this.stmts[i]!.node).find((x) => x.type === 'create_table_stmt');
    const details: string[] = [];
    if (!rb.copied) details.push(`no INSERT … SELECT copies the rows of ${rb.table}: every row is lost`);
    const newCols = create?.type === 'create_table_stmt' ? columnsOf(create) : null;
    if (old?.columns && newCols) {
      const dropped = [...old.columns.keys()].filter((c) => !newCols.has(c)).map((c) => old.columns!.get(c)!.name);
      if (dropped.length) details.push(`drops column${dropped.length > 1 ? 's' : ''} ${dropped.join(', ')}`);
      for (const [k, col] of newCols) {
        const before = old.columns.get(k);
        if (before && norm(before.type) !== norm(col.type))
          details.push(`changes the type of ${col.name} from ${before.type || '(none)'} to ${col.type || '(none)'}`);
      }
    }
    const recreated = new Set(
      this.stmts
        .filter((x) => x.i > rb.stmts[0]! && x.node.type === 'create_index_stmt')
        .map((x) => (x.node.type === 'create_index_stmt' ? nameKey(x.node.name) : undefined)),
    );
    const lost = [...this.schema.indexes.values()].filter((ix) => ix.table === rb.table && !recreated.has(ix.name.toLowerCase()));
    for (const ix of lost) details.push(`${ix.unique ? 'UNIQUE index' : 'index'} ${ix.name} is not recreated`);
    const referencing = [...(this.schema.references.get(rb.table) ?? [])].filter((t) => t !== rb.table && t !== rb.temp);
    if (referencing.length && !this.stmts.some((x) => x.i < rb.stmts[0]! && turnsForeignKeysOff(x.node)))
      details.push(`${referencing.join(', ')} reference${referencing.length > 1 ? '' : 's'} it and there is no PRAGMA foreign_keys=OFF: with foreign keys on, DROP TABLE ${rb.table} deletes or cascades to their rows`);
    if (referencing.length && this.stmts[rb.stmts[0]!]!.node.type === 'alter_table_stmt')
      details.push(`renaming ${rb.table} first makes the foreign keys of ${referencing.join(', ')} follow it to ${rb.temp} (SQLite 3.26+), which is then dropped`);
    const what = `rebuilds table ${rb.table} (via ${rb.temp}, statements on lines ${rb.stmts.map((i) => this.stmts[i]!.startLine).join(', ')})${details.length ? `: ${details.join('; ')}` : ''}`;
    this.add('table-rebuild', s, s.node, what, rb.stmts);
  }

  // ---- one statement

  private statement(s: Stmt): void {
    const rb = this.rebuilds.get(s.i);
    if (rb) this.reportRebuild(rb, s);
    const n: Statement = s.node;
    if (n.type === 'create_table_stmt' || n.type === 'alter_table_stmt') this.noteReferences(n);
    switch (n.type) {
      case 'create_table_stmt':
        return this.createTable(s, n);
      case 'create_index_stmt': {
        const table = nameKey(n.table);
        const name = nameKey(n.name);
        const unique = keywordNames(n.indexTypeKw).includes('UNIQUE');
        if (name && table) {
          this.schema.indexes.set(name, { name: this.text(n.name), table, unique });
          this.indexesCreatedHere.add(name);
        }
        if (!n.concurrentlyKw && !this.isNew(table))
          this.add('create-index-non-concurrent', s, n, `CREATE ${unique ? 'UNIQUE ' : ''}INDEX ${name ? this.text(n.name) + ' ' : ''}ON ${this.text(n.table)} without CONCURRENTLY`);
        return;
      }
      case 'drop_index_stmt':
        for (const ix of n.indexes.items) this.dropIndex(s, ix);
        return;
      case 'drop_table_stmt':
        if (n.kind) return; // DROP TEMPORARY/… TABLE (MySQL): nothing the app shares
        for (const t of n.tables.items) {
          const key = nameKey(t);
          if (!key) continue;
          if (!this.consumed.has(`drop:${s.i}:${key}`) && !this.isNew(key))
            this.add('drop-table', s, t, `drops table ${this.text(t)}`);
          this.forgetTable(key);
        }
        return;
      case 'alter_table_stmt':
        return this.alterTable(s, n);
      case 'delete_stmt': {
        const del = n.clauses.find((c) => c.type === 'delete_clause');
        const tables = del && del.type === 'delete_clause' ? del.tables.items : [];
        const names = tables.map((t) => nameKey(t));
        if (!hasWhere(n.clauses) && !names.every((t) => this.isNew(t)))
          this.add('delete-without-where', s, n, `DELETE FROM ${tables.map((t) => this.text(t)).join(', ')} without WHERE`);
        return;
      }
      case 'update_stmt': {
        const upd = n.clauses.find((c) => c.type === 'update_clause');
        const tables = upd && upd.type === 'update_clause' ? upd.tables.items : [];
        if (!hasWhere(n.clauses) && !tables.every((t) => this.isNew(nameKey(t))))
          this.add('update-without-where', s, n, `UPDATE ${tables.map((t) => this.text(t)).join(', ')} without WHERE`);
        return;
      }
      case 'truncate_stmt': {
        const tables = n.tables.items;
        if (!tables.every((t) => this.isNew(nameKey(t))))
          this.add('delete-without-where', s, n, `TRUNCATE ${tables.map((t) => this.text(t)).join(', ')} deletes every row`);
        return;
      }
      default:
        return;
    }
  }

  private createTable(s: Stmt, n: Extract<Statement, { type: 'create_table_stmt' }>): void {
    const key = nameKey(n.name);
    if (!key) return;
    const exists = n.ifNotExistsKw !== undefined && this.schema.tables.has(key);
    if (exists) return;
    this.createdHere.add(key);
    const columns = columnsOf(n);
    this.schema.tables.set(key, { name: this.text(n.name), columns });
    // Named (or default-named) PostgreSQL constraints, so that a later DROP CONSTRAINT is understood.
    for (const item of n.columns?.expr.items ?? []) {
      if (item.type === 'column_definition') {
        for (const c of item.constraints) {
          const inner = c.type === 'constraint' ? c.constraint : c;
          const named = c.type === 'constraint' && c.name?.name ? this.text(c.name.name) : undefined;
          const kind = constraintKind(inner.type);
          if (kind === 'other') continue;
          const col = String(item.name.name);
          const suffix = { unique: 'key', 'primary-key': 'pkey', 'foreign-key': 'fkey', check: 'check', exclude: 'excl' }[kind];
          const name = named ?? (kind === 'primary-key' ? `${key}_pkey` : `${key}_${col}_${suffix}`);
          this.schema.constraints.set(name.toLowerCase(), { name, table: key, kind });
        }
      } else if (item.type === 'constraint') {
        const kind = constraintKind(item.constraint.type);
        const name = item.name?.name ? this.text(item.name.name) : kind === 'primary-key' ? `${key}_pkey` : undefined;
        if (name) this.schema.constraints.set(name.toLowerCase(), { name, table: key, kind });
      } else if (item.type === 'constraint_primary_key') {
        this.schema.constraints.set(`${key}_pkey`, { name: `${key}_pkey`, table: key, kind: 'primary-key' });
      }
    }
  }

  private dropIndex(s: Stmt, ix: unknown): void {
    const key = nameKey(ix);
    if (!key) return;
    const info = this.schema.indexes.get(key);
    this.schema.indexes.delete(key);
    if (this.indexesCreatedHere.has(key)) return;
    if (info) {
      if (info.unique && !this.isNew(info.table))
        this.add('drop-unique', s, ix, `drops UNIQUE index ${this.text(ix)} on ${info.table}`);
      return;
    }
    this.add('drop-unique', s, ix, `drops index ${this.text(ix)}, which may be UNIQUE (the linted migrations do not create it; lint the whole directory)`);
  }

  private alterTable(s: Stmt, n: Extract<Statement, { type: 'alter_table_stmt' }>): void {
    const table = nameKey(n.table);
    if (!table) return;
    const tname = this.text(n.table);
    const fresh = this.isNew(table);
    const info = this.schema.tables.get(table);
    const pg = this.dialect === 'postgres';
    for (const a of n.actions.items) {
      switch (a.type) {
        case 'alter_action_rename': {
          const to = nameKey(a.newName);
          if (!to) break;
          if (!this.consumed.has(`rename:${s.i}`) && !fresh)
            this.add('rename-table', s, a, `renames table ${tname} to ${this.text(a.newName)}`);
          if (fresh) this.createdHere.add(to);
          this.moveTable(table, to, this.text(a.newName));
          break;
        }
        case 'alter_action_rename_column': {
          if (!fresh) this.add('rename-column', s, a, `renames column ${tname}.${this.text(a.oldName)} to ${this.text(a.newName)}`);
          const col = info?.columns?.get(String(a.oldName.name).toLowerCase());
          if (info?.columns && col) {
            info.columns.delete(String(a.oldName.name).toLowerCase());
            info.columns.set(String(a.newName.name).toLowerCase(), { ...col, name: this.text(a.newName) });
          }
          break;
        }
        case 'alter_action_drop_column':
          if (!fresh) this.add('drop-column', s, a, `drops column ${tname}.${this.text(a.column)}`);
          info?.columns?.delete(String(a.column.name).toLowerCase());
          break;
        case 'alter_action_add_column': {
          const def = a.column;
          const col = columnOf(def);
          if (!fresh && notNullWithoutDefault(def, col.type))
            this.add('add-column-not-null', s, a, `adds column ${tname}.${this.text(def.name)} NOT NULL without a DEFAULT`);
          info?.columns?.set(String(def.name.name).toLowerCase(), col);
          break;
        }
        case 'alter_action_alter_column': {
          const col = this.text(a.column);
          if (a.action.type === 'alter_action_set_data_type') {
            if (!fresh) this.add('change-column-type', s, a, `changes the type of ${tname}.${col} to ${this.text(a.action.dataType)}`);
            const c = info?.columns?.get(col.toLowerCase());
            if (c) c.type = this.text(a.action.dataType);
          } else if (a.action.type === 'alter_action_set_not_null' && !fresh) {
            this.add('set-not-null', s, a, `makes ${tname}.${col} NOT NULL`);
          }
          break;
        }
        case 'alter_action_add_constraint': {
          const c = a.constraint;
          const kind = constraintKind(c.type);
          const named = a.name ? this.text(a.name.name) : undefined;
          const label = `ADD ${named ? `CONSTRAINT ${named} ` : ''}`;
          if (named) this.schema.constraints.set(named.toLowerCase(), { name: named, table, kind });
          if (!pg || fresh) break;
          const notValid = a.modifiers.some((m) => keywordNames(m.kw).join(' ') === 'NOT VALID');
          if ((kind === 'foreign-key' || kind === 'check') && !notValid)
            this.add('constraint-without-not-valid', s, a, `${label}${kind === 'check' ? 'CHECK' : 'FOREIGN KEY'} on ${tname} without NOT VALID`);
          if ((c.type === 'constraint_unique' || c.type === 'constraint_primary_key') && c.columns?.type !== 'existing_index')
            this.add('create-index-non-concurrent', s, a, `${label}${kind === 'unique' ? 'UNIQUE' : 'PRIMARY KEY'} on ${tname} builds its index without CONCURRENTLY`);
          break;
        }
        case 'alter_action_drop_constraint': {
          const key = String(a.constraint.name).toLowerCase();
          const known = this.schema.constraints.get(key);
          this.schema.constraints.delete(key);
          if (fresh) break;
          const kind = known?.kind ?? kindFromDefaultName(key);
          const name = this.text(a.constraint);
          if (kind === 'unique' || kind === 'primary-key')
            this.add('drop-unique', s, a, `drops ${kind === 'unique' ? 'UNIQUE' : 'PRIMARY KEY'} constraint ${name} of ${tname}`);
          else if (kind === undefined)
            this.add('drop-unique', s, a, `drops constraint ${name} of ${tname}, which may be UNIQUE (the linted migrations do not create it; lint the whole directory)`);
          break;
        }
        case 'alter_action_drop_primary_key':
          if (!fresh) this.add('drop-unique', s, a, `drops the PRIMARY KEY of ${tname}`);
          break;
        default:
          break;
      }
    }
  }

  private noteReferences(n: Extract<Statement, { type: 'create_table_stmt' | 'alter_table_stmt' }>): void {
    const from = nameKey(n.type === 'create_table_stmt' ? n.name : n.table);
    if (!from) return;
    for (const r of walk(n)) {
      const to = r.type === 'references_specification' ? nameKey(r.table) : undefined;
      if (!to) continue;
      if (!this.schema.references.has(to)) this.schema.references.set(to, new Set());
      this.schema.references.get(to)!.add(from);
    }
  }

  private moveTable(from: string, to: string, display: string): void {
    const info = this.schema.tables.get(from);
    this.schema.tables.delete(from);
    if (info) this.schema.tables.set(to, { ...info, name: display });
    for (const ix of this.schema.indexes.values()) if (ix.table === from) ix.table = to;
    for (const c of this.schema.constraints.values()) if (c.table === from) c.table = to;
    for (const set of this.schema.references.values()) if (set.delete(from)) set.add(to);
    const refs = this.schema.references.get(from);
    this.schema.references.delete(from);
    if (refs) this.schema.references.set(to, refs);
  }

  private forgetTable(key: string): void {
    this.schema.tables.delete(key);
    for (const [k, ix] of this.schema.indexes) if (ix.table === key) this.schema.indexes.delete(k);
    for (const [k, c] of this.schema.constraints) if (c.table === key) this.schema.constraints.delete(k);
    for (const set of this.schema.references.values()) set.delete(key);
  }

  // ---- accepting: bg:contract and bg:allow

  private accept(): void {
    const directives = this.directives();
    const firstStart = this.stmts[0]?.start ?? Infinity;
    const lineKinds = this.lineKinds();
    const meta: RawFinding[] = [];
    // Findings about the comments themselves: the message says it all, without the rule's `why`.
    const metaAt = (rule: RuleId, d: Directive, message: string, stmts: number[] = []) =>
      meta.push({ rule, at: d.comment.start, stmts, message, statement: d.comment.text.trim() });

    if (/\.contract\./i.test(baseName(this.file))) this.contract = 'contract migration (file name contains ".contract.")';
    for (const d of directives) {
      if (d.kind !== 'contract') continue;
      if (d.comment.end <= firstStart) {
        this.contract ??= `contract migration (-- bg:contract${d.rest ? `: ${d.rest}` : ''})`;
      } else {
        metaAt('unused-directive', d, '`bg:contract` after the first statement does not mark the migration as a contract step');
      }
    }

    for (const d of directives) {
      if (d.kind !== 'allow') continue;
      const m = /^(\S*)\s*(.*)$/s.exec(d.rest)!;
      const ids = (m[1] ?? '').split(',').map((x) => x.replace(/:$/, '').trim()).filter(Boolean);
      const reason = (m[2] ?? '').replace(/^[-:—–\s]+/, '').trim();
      const targets = this.targetsOf(d.comment, lineKinds);
      if (ids.length === 0) {
        metaAt('allow-without-reason', d, '`bg:allow` names no rule and gives no reason', targets);
        continue;
      }
      const unknown = ids.filter((x) => !isRuleId(x));
      for (const u of unknown) metaAt('unused-directive', d, `\`bg:allow ${u}\`: no rule has that id${suggest(u)}`, targets);
      if (!reason) {
        metaAt('allow-without-reason', d, `\`bg:allow ${ids.join(',')}\` gives no reason, so it accepts nothing`, targets);
        continue;
      }
      if (targets.length === 0) {
        metaAt('unused-directive', d, `\`bg:allow ${ids.join(',')}\` is neither on a statement’s line nor directly above one`);
        continue;
      }
      for (const id of ids.filter(isRuleId)) {
        const hits = this.raw.filter((f) => f.rule === id && RULES[f.rule].acceptable && f.stmts.some((i) => targets.includes(i)));
        for (const f of hits) f.accepted = `bg:allow: ${reason}`;
        if (hits.length === 0)
          metaAt('unused-directive', d, `\`bg:allow ${id}\`: the statement on line ${this.stmts[targets[0]!]!.startLine} has no ${id} finding`, targets);
      }
    }

    if (this.contract) for (const f of this.raw) if (f.accepted === undefined && RULES[f.rule].acceptable) f.accepted = this.contract;
    this.raw.push(...meta);
  }

  private directives(): Directive[] {
    const out: Directive[] = [];
    for (const c of this.comments) {
      const body = c.text.startsWith('--') ? c.text.slice(2) : c.text.replace(/^\/\*|\*\/$/g, '');
      const m = /^\s*bg:(allow|contract)\b(.*)$/s.exec(body);
      if (m) out.push({ kind: m[1] as 'allow' | 'contract', comment: c, rest: (m[2] ?? '').replace(/\s+/g, ' ').trim() });
    }
    return out;
  }

  /** Per line (0-based): blank, comment only, or holding code. */
  private lineKinds(): Array<'blank' | 'comment' | 'code'> {
    const inComment = new Uint8Array(this.src.length);
    for (const c of this.comments) inComment.fill(1, c.start, c.end);
    return this.lineStarts.map((ls, i) => {
      const le = this.lineStarts[i + 1] ?? this.src.length;
      let comment = false;
      for (let j = ls; j < le; j++) {
        if (inComment[j]) comment = true;
        else if (!/\s/.test(this.src[j]!)) return 'code';
      }
      return comment ? 'comment' : 'blank';
    });
  }

  /** The statements a `bg:allow` comment applies to: those on its line, else the one right below. */
  private targetsOf(c: SqlComment, kinds: Array<'blank' | 'comment' | 'code'>): number[] {
    const line = this.pos(c.start).line;
    const same = this.stmts.filter((s) => s.startLine <= line && line <= s.endLine).map((s) => s.i);
    if (same.length) return same;
    let l = this.pos(Math.max(c.start, c.end - 1)).line + 1; // 1-based line after the comment
    while (l <= kinds.length && kinds[l - 1] === 'comment') l++;
    const below = this.stmts.find((s) => s.startLine === l);
    return below ? [below.i] : [];
  }
}

// ---------------------------------------------------------------------------------------------
// Small pure helpers

interface Summary {
  creates?: string;
  copiesInto?: string;
  reads: Set<string>;
  drops: string[];
  renameFrom?: string;
  renameTo?: string;
}

function summarize(n: Statement): Summary {
  const out: Summary = { reads: new Set(), drops: [] };
  if (n.type === 'create_table_stmt') {
    const key = nameKey(n.name);
    if (key) out.creates = key;
    if (key && n.clauses.some((c) => c.type === 'as_clause')) {
      out.copiesInto = key;
      out.reads = tablesRead(n.clauses);
    }
  } else if (n.type === 'insert_stmt') {
    const ins = n.clauses.find((c) => c.type === 'insert_clause');
    const key = ins && ins.type === 'insert_clause' ? nameKey(ins.table) : undefined;
    if (key) {
      out.copiesInto = key;
      out.reads = tablesRead(n.clauses);
    }
  } else if (n.type === 'drop_table_stmt') {
    out.drops = n.tables.items.map((t) => nameKey(t)).filter((k): k is string => k !== undefined);
  } else if (n.type === 'alter_table_stmt' && n.actions.items.length === 1) {
    const a = n.actions.items[0]!;
    const from = nameKey(n.table);
    const to = a.type === 'alter_action_rename' ? nameKey(a.newName) : undefined;
    if (from && to) {
      out.renameFrom = from;
      out.renameTo = to;
    }
  }
  return out;
}

/** `PRAGMA foreign_keys = OFF` (or 0, false, no). */
function turnsForeignKeysOff(n: Statement): boolean {
  if (n.type !== 'pragma_stmt' || n.pragma.type !== 'pragma_assignment') return false;
  if (nameKey(n.pragma.name) !== 'foreign_keys') return false;
  const v = n.pragma.value;
  const text = v.type === 'keyword' ? v.name : 'text' in v ? v.text : '';
  return ['off', '0', 'false', 'no'].includes(String(text).toLowerCase());
}

function lastIndex<T>(xs: T[], pred: (x: T, i: number) => boolean): number {
  for (let i = xs.length - 1; i >= 0; i--) if (pred(xs[i]!, i)) return i;
  return -1;
}

type CreateTable = Extract<Statement, { type: 'create_table_stmt' }>;
type ColumnDef = Extract<NonNullable<CreateTable['columns']>['expr']['items'][number], { type: 'column_definition' }>;

function columnsOf(n: CreateTable): Map<string, ColumnInfo> | null {
  if (!n.columns) return null;
  const out = new Map<string, ColumnInfo>();
  for (const item of n.columns.expr.items) if (item.type === 'column_definition') out.set(String(item.name.name).toLowerCase(), columnOf(item));
  return out;
}

function columnOf(def: ColumnDef): ColumnInfo {
  return { name: def.name.text, type: def.dataType ? typeText(def.dataType) : '' };
}

/** A data type as written, from the parser's keywords and identifiers (no source needed). */
function typeText(n: unknown): string {
  const parts: string[] = [];
  for (const m of walk(n)) {
    if (m.type === 'keyword' || m.type === 'identifier') parts.push(String(m.text));
    else if (m.type === 'number_literal') parts.push(String(m.text));
  }
  return parts.join(' ');
}

function norm(t: string): string {
  return t.replace(/\s+/g, ' ').trim().toUpperCase();
}

function notNullWithoutDefault(def: ColumnDef, type: string): boolean {
  let notNull = false;
  let valued = /^(small|big)?serial\d?$/i.test(type.trim());
  for (const c of def.constraints) {
    const inner = c.type === 'constraint' ? c.constraint : c;
    if (inner.type === 'constraint_not_null') notNull = true;
    else if (inner.type === 'constraint_default') valued ||= inner.expr.type !== 'null_literal';
    else if (inner.type === 'constraint_generated' || inner.type === 'constraint_auto_increment') valued = true;
  }
  return notNull && !valued;
}

function constraintKind(type: string): ConstraintKind {
  switch (type) {
    case 'constraint_unique':
      return 'unique';
    case 'constraint_primary_key':
      return 'primary-key';
    case 'constraint_foreign_key':
    case 'references_specification':
      return 'foreign-key';
    case 'constraint_check':
      return 'check';
    case 'constraint_exclude':
      return 'exclude';
    default:
      return 'other';
  }
}

/** PostgreSQL's default constraint names: t_pkey, t_col_key, t_col_fkey, t_col_check, t_col_excl. */
function kindFromDefaultName(name: string): ConstraintKind | undefined {
  if (name.endsWith('_pkey')) return 'primary-key';
  if (name.endsWith('_fkey')) return 'foreign-key';
  if (name.endsWith('_check') || name.endsWith('_not_null')) return 'check';
  if (name.endsWith('_excl')) return 'exclude';
  if (name.endsWith('_key')) return 'unique';
  return undefined;
}

function baseName(file: string): string {
  return file.split(/[\\/]/).pop() ?? file;
}

function suggest(id: string): string {
  const close = Object.keys(RULES).filter((r) => distance(r, id) <= 2);
  return close.length ? ` (did you mean ${close.join(' or ')}?)` : '';
}

function distance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length]!;
}
