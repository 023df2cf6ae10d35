// PostgreSQL migrations, read by PostgreSQL's own parser (libpg-query): statements, comments and
// the findings of the PostgreSQL rules. What earlier migrations (or --schema) created is kept in
// PgKnowledge, so a DROP INDEX or DROP CONSTRAINT knows whether it drops something UNIQUE.
import type { RawFinding, Span, SqlComment } from './accept.js';
import { pgEngine } from './engines.js';

type ConstraintKind = 'unique' | 'primary-key' | 'foreign-key' | 'check' | 'exclude' | 'other';
export interface PgKnowledge {
  tables: Set<string>;
  indexes: Map<string, { table: string; unique: boolean }>;
  constraints: Map<string, { table: string; kind: ConstraintKind }>;
}

export function newPgKnowledge(): PgKnowledge {
  return { tables: new Set(), indexes: new Map(), constraints: new Map() };
}

/** A file PostgreSQL's parser refuses: offset (characters) and its message. */
export class PgRejected extends Error {
  constructor(
    readonly at: number,
    readonly reason: string,
  ) {
    super(reason);
  }
}

type Node = Record<string, any>; // libpg-query's JSON tree: walked by its documented field names

/**
 * The tables a statement locks ACCESS EXCLUSIVE (ALTER TABLE except VALIDATE CONSTRAINT alone,
 * DROP TABLE, TRUNCATE, renames), or undefined. CREATE INDEX takes SHARE (its own rule), and a
 * CONCURRENTLY form takes neither.
 */
function accessExclusiveOn(kind: string, n: Node): Node[] | undefined {
  if (kind === 'AlterTableStmt' && n.objtype === 'OBJECT_TABLE') {
    const cmds = (n.cmds ?? []).map((c: Node) => c.AlterTableCmd?.subtype);
    return cmds.every((c: string) => c === 'AT_ValidateConstraint') ? undefined : [n.relation];
  }
  if (kind === 'TruncateStmt') return (n.relations ?? []).map((r: Node) => r.RangeVar);
  if (kind === 'RenameStmt' && n.relation && (n.renameType === 'OBJECT_TABLE' || n.renameType === 'OBJECT_COLUMN' || n.renameType === 'OBJECT_TABCONSTRAINT')) return [n.relation];
  if (kind === 'DropStmt' && n.removeType === 'OBJECT_TABLE')
    return (n.objects ?? []).map((o: Node) => {
      const parts = (o.List?.items ?? []).map((x: Node) => x.String?.sval as string);
      return { relname: parts[parts.length - 1], ...(parts.length > 1 ? { schemaname: parts[0] } : {}) };
    });
  return undefined;
}

/** UTF-8 byte offset → string index (libpg-query counts bytes). */
function byteIndex(src: string): (byte: number) => number {
  const map: number[] = [];
  for (let i = 0; i < src.length; i++) {
    const c = src.codePointAt(i)!;
    const n = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    for (let k = 0; k < n; k++) map.push(i);
    if (c >= 0x10000) i++;
  }
  return (b) => (b >= map.length ? src.length : map[b]!);
}

/** Parses a migration and returns its statements, comments and findings; updates `know`. */
export function analyzePg(src: string, know: PgKnowledge): { spans: Span[]; comments: SqlComment[]; raw: RawFinding[] } {
  const pg = pgEngine();
  let tree;
  try {
    tree = pg.parseSync(src);
  } catch (e) {
    const d = (e as { sqlDetails?: { cursorPosition?: number } }).sqlDetails;
    // cursorPosition counts characters (PostgreSQL's own cursorpos, 0-based here).
    throw new PgRejected(codePointIndex(src, d?.cursorPosition ?? 0), (e as Error).message);
  }
  const at = byteIndex(src);
  const tokens = pg.scanSync(src).tokens.map((t) => ({ ...t, start: at(t.start), end: at(t.end) }));
  const comments = tokens.filter((t) => t.tokenName === 'SQL_COMMENT' || t.tokenName === 'C_COMMENT').map((t) => ({ text: src.slice(t.start, t.end), start: t.start, end: t.end }));
  const codeTokens = tokens.filter((t) => t.tokenName !== 'SQL_COMMENT' && t.tokenName !== 'C_COMMENT');
  const spans: Span[] = [];
  const raw: RawFinding[] = [];
  const createdHere = new Set<string>();
  const indexesHere = new Set<string>();
  // missing-lock-timeout: once per file, at the first statement that takes ACCESS EXCLUSIVE on a
  // table it did not create, unless a SET lock_timeout came before it.
  let lockTimeout = false;
  let lockAdvised = false;

  for (const [i, s] of (tree.stmts ?? []).entries()) {
    const from = at(s.stmt_location ?? 0);
    const to = s.stmt_len ? at((s.stmt_location ?? 0) + s.stmt_len) : src.length;
    const ts = codeTokens.filter((t) => t.start >= from && t.end <= to && t.text !== ';');
    const span = { start: ts[0]?.start ?? from, end: ts[ts.length - 1]?.end ?? to };
    spans.push(span);
    const add = (rule: RawFinding['rule'], offset: number | undefined, what: string) => raw.push({ rule, at: offset ?? span.start, stmts: [i], what });
    const loc = (n: Node | undefined) => (typeof n?.location === 'number' ? at(n.location) : undefined);
    const rel = (r: Node | undefined) => (r ? `${r.schemaname ? `${r.schemaname}.` : ''}${r.relname}` : '?');
    const fresh = (r: Node | undefined) => r !== undefined && createdHere.has(r.relname);
    // Offsets of the comma-separated subcommands of ALTER TABLE (they carry no location of their own).
    const cmdStarts = (): number[] => {
      const relEnd = ts.findIndex((t) => t.start > (loc((s.stmt as Node).AlterTableStmt?.relation) ?? 0));
      const out = [ts[relEnd + 1]?.start ?? span.start];
      let depth = 0;
      for (const t of ts.slice(relEnd + 1)) {
        if (t.text === '(') depth++;
        else if (t.text === ')') depth--;
        else if (t.text === ',' && depth === 0) out.push(ts[ts.indexOf(t) + 1]?.start ?? t.start);
      }
      return out;
    };
    const [kind, n] = Object.entries(s.stmt)[0] as [string, Node];
    if (kind === 'VariableSetStmt' && n.name === 'lock_timeout') lockTimeout = true;
    const exclusive = accessExclusiveOn(kind, n);
    if (exclusive && !lockTimeout && !lockAdvised && !exclusive.every((r) => fresh(r))) {
      lockAdvised = true;
      add('missing-lock-timeout', span.start, `${exclusive.map(rel).join(', ')}: ACCESS EXCLUSIVE lock without a SET lock_timeout before it`);
    }
    switch (kind) {
      case 'CreateStmt': {
        const name = n.relation.relname as string;
        if (n.if_not_exists && know.tables.has(name)) break;
        createdHere.add(name);
        know.tables.add(name);
        for (const e of n.tableElts ?? []) {
          if (e.ColumnDef) {
            for (const c of e.ColumnDef.constraints ?? []) {
              const k = constraintKind(c.Constraint?.contype);
              if (k === 'other') continue;
              const suffix = { unique: 'key', 'primary-key': 'pkey', 'foreign-key': 'fkey', check: 'check', exclude: 'excl' }[k];
              const cname = c.Constraint.conname ?? (k === 'primary-key' ? `${name}_pkey` : `${name}_${e.ColumnDef.colname}_${suffix}`);
              know.constraints.set(cname, { table: name, kind: k });
            }
          } else if (e.Constraint) {
            const k = constraintKind(e.Constraint.contype);
            const cname = e.Constraint.conname ?? (k === 'primary-key' ? `${name}_pkey` : undefined);
            if (cname) know.constraints.set(cname, { table: name, kind: k });
          }
        }
        break;
      }
      case 'CreateTableAsStmt': {
        const name = n.into?.rel?.relname as string | undefined;
        if (name) {
          createdHere.add(name);
          know.tables.add(name);
        }
        break;
      }
      case 'IndexStmt': {
        const table = n.relation.relname as string;
        if (n.idxname) {
          know.indexes.set(n.idxname, { table, unique: !!n.unique });
          indexesHere.add(n.idxname);
        }
        if (!n.concurrent && !fresh(n.relation))
          add('create-index-non-concurrent', span.start, `CREATE ${n.unique ? 'UNIQUE ' : ''}INDEX ${n.idxname ? `${n.idxname} ` : ''}ON ${rel(n.relation)} without CONCURRENTLY`);
        break;
      }
      case 'DropStmt': {
        const names = (n.objects ?? []).map((o: Node) => (o.List?.items ?? []).map((x: Node) => x.String?.sval as string));
        for (const parts of names as string[][]) {
          const key = parts[parts.length - 1]!;
          const shown = parts.join('.');
          const offset = tokenOf(ts, key);
          if (n.removeType === 'OBJECT_TABLE') {
            if (!createdHere.has(key)) add('drop-table', offset, `drops table ${shown}`);
            know.tables.delete(key);
            createdHere.delete(key);
          } else if (n.removeType === 'OBJECT_INDEX') {
            const info = know.indexes.get(key);
            know.indexes.delete(key);
            if (indexesHere.has(key)) continue;
            if (info) {
              if (info.unique && !createdHere.has(info.table)) add('drop-unique', offset, `drops UNIQUE index ${shown} on ${info.table}`);
            } else add('drop-unique', offset, `drops index ${shown}, which may be UNIQUE (the linted migrations do not create it; lint the whole directory, or give --schema)`);
          }
        }
        break;
      }
      case 'RenameStmt': {
        if (n.renameType === 'OBJECT_TABLE' && n.relation) {
          if (!fresh(n.relation)) add('rename-table', loc(n.relation), `renames table ${rel(n.relation)} to ${n.newname}`);
          if (fresh(n.relation)) createdHere.add(n.newname);
          know.tables.delete(n.relation.relname);
          know.tables.add(n.newname);
        } else if (n.renameType === 'OBJECT_COLUMN' && n.relation && !fresh(n.relation)) {
          add('rename-column', tokenOf(ts, n.subname, loc(n.relation)), `renames column ${rel(n.relation)}.${n.subname} to ${n.newname}`);
        }
        break;
      }
      case 'AlterTableStmt': {
        if (n.objtype !== 'OBJECT_TABLE') break;
        const tname = rel(n.relation);
        const table = n.relation.relname as string;
        const isFresh = fresh(n.relation);
        const starts = cmdStarts();
        for (const [k, c] of (n.cmds ?? []).entries()) {
          const a = c.AlterTableCmd as Node;
          const where = starts[k] ?? span.start;
          switch (a.subtype) {
            case 'AT_DropColumn':
              if (!isFresh) add('drop-column', where, `drops column ${tname}.${a.name}`);
              break;
            case 'AT_AddColumn': {
              const def = a.def?.ColumnDef as Node | undefined;
              if (def && !isFresh && notNullWithoutDefault(def)) add('add-column-not-null', where, `adds column ${tname}.${def.colname} NOT NULL without a DEFAULT`);
              break;
            }
            case 'AT_AlterColumnType':
              if (!isFresh) add('change-column-type', where, `changes the type of ${tname}.${a.name} to ${typeText(src, ts, where)}`);
              break;
            case 'AT_SetNotNull':
              if (!isFresh) add('set-not-null', where, `makes ${tname}.${a.name} NOT NULL`);
              break;
            case 'AT_AddConstraint': {
              const con = a.def?.Constraint as Node | undefined;
              if (!con) break;
              const k2 = constraintKind(con.contype);
              if (con.conname) know.constraints.set(con.conname, { table, kind: k2 });
              if (isFresh) break;
              const label = `ADD ${con.conname ? `CONSTRAINT ${con.conname} ` : ''}`;
              if ((k2 === 'foreign-key' || k2 === 'check') && !con.skip_validation)
                add('constraint-without-not-valid', where, `${label}${k2 === 'check' ? 'CHECK' : 'FOREIGN KEY'} on ${tname} without NOT VALID`);
              if ((k2 === 'unique' || k2 === 'primary-key') && !con.indexname)
                add('create-index-non-concurrent', where, `${label}${k2 === 'unique' ? 'UNIQUE' : 'PRIMARY KEY'} on ${tname} builds its index without CONCURRENTLY`);
              break;
            }
            case 'AT_DropConstraint': {
              const known = know.constraints.get(a.name);
              know.constraints.delete(a.name);
              if (isFresh) break;
              const k2 = known?.kind ?? kindFromDefaultName(a.name);
              if (k2 === 'unique' || k2 === 'primary-key') add('drop-unique', where, `drops ${k2 === 'unique' ? 'UNIQUE' : 'PRIMARY KEY'} constraint ${a.name} of ${tname}`);
              else if (k2 === undefined) add('drop-unique', where, `drops constraint ${a.name} of ${tname}, which may be UNIQUE (the linted migrations do not create it; lint the whole directory, or give --schema)`);
              break;
            }
            default:
              break;
          }
        }
        break;
      }
      case 'DeleteStmt':
        if (!n.whereClause && !fresh(n.relation)) add('delete-without-where', span.start, `DELETE FROM ${rel(n.relation)} without WHERE`);
        break;
      case 'UpdateStmt':
        if (!n.whereClause && !fresh(n.relation)) add('update-without-where', span.start, `UPDATE ${rel(n.relation)} without WHERE`);
        break;
      case 'TruncateStmt': {
        const rels = (n.relations ?? []).map((r: Node) => r.RangeVar);
        if (!rels.every((r: Node) => fresh(r))) add('delete-without-where', span.start, `TRUNCATE ${rels.map(rel).join(', ')} deletes every row`);
        break;
      }
      default:
        break;
    }
  }
  return { spans, comments, raw };
}

function codePointIndex(src: string, n: number): number {
  let i = 0;
  for (let k = 0; k < n && i < src.length; k++) i += src.codePointAt(i)! >= 0x10000 ? 2 : 1;
  return i;
}

function tokenOf(ts: ReadonlyArray<{ text: string; start: number }>, name: string | undefined, fallback?: number): number | undefined {
  if (!name) return fallback;
  const t = ts.find((x) => x.text === name || x.text.toLowerCase() === name || x.text === `"${name}"`);
  return t?.start ?? fallback;
}

/** The type after TYPE in `ALTER COLUMN c [SET DATA] TYPE t [USING …]`, as written. */
function typeText(src: string, ts: ReadonlyArray<{ text: string; start: number; end: number }>, from: number): string {
  const rest = ts.filter((t) => t.start >= from);
  const k = rest.findIndex((t) => t.text.toUpperCase() === 'TYPE');
  const out: typeof rest = [];
  let depth = 0;
  for (const t of rest.slice(k + 1)) {
    if (t.text === '(') depth++;
    if (t.text === ')') depth--;
    if (depth === 0 && (t.text === ',' || /^(USING|COLLATE)$/i.test(t.text))) break;
    out.push(t);
  }
  return out.length ? src.slice(out[0]!.start, out[out.length - 1]!.end) : '?';
}

function notNullWithoutDefault(def: Node): boolean {
  const typeName = (def.typeName?.names ?? []).map((x: Node) => x.String?.sval).pop() ?? '';
  let notNull = false;
  let valued = /^(small|big)?serial\d?$/i.test(typeName);
  for (const c of def.constraints ?? []) {
    const t = c.Constraint?.contype;
    if (t === 'CONSTR_NOTNULL') notNull = true;
    else if (t === 'CONSTR_DEFAULT') valued ||= !c.Constraint.raw_expr?.A_Const?.isnull;
    else if (t === 'CONSTR_IDENTITY' || t === 'CONSTR_GENERATED') valued = true;
  }
  return notNull && !valued;
}

function constraintKind(t: string | undefined): ConstraintKind {
  switch (t) {
    case 'CONSTR_UNIQUE':
      return 'unique';
    case 'CONSTR_PRIMARY':
      return 'primary-key';
    case 'CONSTR_FOREIGN':
      return 'foreign-key';
    case 'CONSTR_CHECK':
      return 'check';
    case 'CONSTR_EXCLUSION':
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
