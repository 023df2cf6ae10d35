// SQLite's tokens, as its own tokenizer cuts them: enough to find comments (for `bg:` directives),
// where each statement starts, and the few facts the catalog cannot show (a DELETE or UPDATE
// without WHERE, a PRAGMA foreign_keys=OFF). SQLite has already accepted every statement read
// here, so the tokens are those of valid SQL.

export interface Token {
  kind: 'word' | 'quoted' | 'string' | 'number' | 'punct' | 'comment' | 'space';
  text: string;
  start: number;
  end: number;
}

const WORD = /[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/y;
const NUMBER = /(?:0[xX][0-9a-fA-F_]+|(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?)/y;
const SPACE = /\s+/y;

function sticky(re: RegExp, src: string, at: number): number {
  re.lastIndex = at;
  return re.test(src) ? re.lastIndex : at;
}

/** Closing quote `q` from `at` (just after the opening one), a doubled quote escaping it. */
function closeQuote(src: string, at: number, q: string): number {
  let i = at;
  for (;;) {
    const j = src.indexOf(q, i);
    if (j < 0) return src.length;
    if (q !== ']' && src[j + 1] === q) i = j + 2;
    else return j + 1;
  }
}

export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    let end: number;
    let kind: Token['kind'];
    if (/\s/.test(c)) [kind, end] = ['space', sticky(SPACE, src, i)];
    else if (c === '-' && src[i + 1] === '-') {
      const nl = src.indexOf('\n', i);
      [kind, end] = ['comment', nl < 0 ? src.length : nl];
    } else if (c === '/' && src[i + 1] === '*') {
      const close = src.indexOf('*/', i + 2);
      [kind, end] = ['comment', close < 0 ? src.length : close + 2];
    } else if (c === "'") [kind, end] = ['string', closeQuote(src, i + 1, "'")];
    else if ((c === 'x' || c === 'X') && src[i + 1] === "'") [kind, end] = ['string', closeQuote(src, i + 2, "'")];
    else if (c === '"' || c === '`') [kind, end] = ['quoted', closeQuote(src, i + 1, c)];
    else if (c === '[') [kind, end] = ['quoted', closeQuote(src, i + 1, ']')];
    else if (/[0-9.]/.test(c) && sticky(NUMBER, src, i) > i) [kind, end] = ['number', sticky(NUMBER, src, i)];
    else if (sticky(WORD, src, i) > i) [kind, end] = ['word', sticky(WORD, src, i)];
    else [kind, end] = ['punct', i + 1];
    out.push({ kind, text: src.slice(i, end), start: i, end });
    i = end;
  }
  return out;
}

/** Tokens that are code (no spaces, no comments). */
export function code(tokens: readonly Token[]): Token[] {
  return tokens.filter((t) => t.kind !== 'space' && t.kind !== 'comment');
}

/** A name as SQLite reads it: unquoted, case-folded. */
export function nameOf(t: Token | undefined): string | undefined {
  if (!t) return undefined;
  if (t.kind === 'word') return t.text.toLowerCase();
  if (t.kind === 'quoted' || t.kind === 'string') {
    const q = t.text[0]!;
    const close = q === '[' ? ']' : q;
    return t.text.slice(1, -1).split(close + close).join(close).toLowerCase();
  }
  return undefined;
}

const kw = (t: Token | undefined, ...words: string[]) => t?.kind === 'word' && words.includes(t.text.toUpperCase());

/** Index just past a leading WITH clause (`WITH [RECURSIVE] x AS (…), …`), or 0. */
function afterWith(ts: readonly Token[]): number {
  if (!kw(ts[0], 'WITH')) return 0;
  let depth = 0;
  for (let i = 1; i < ts.length; i++) {
    if (ts[i]!.text === '(') depth++;
    else if (ts[i]!.text === ')') depth--;
    else if (depth === 0 && kw(ts[i], 'DELETE', 'UPDATE', 'INSERT', 'REPLACE', 'SELECT', 'VALUES')) return i;
  }
  return ts.length;
}

export interface DmlShape {
  verb: 'DELETE' | 'UPDATE';
  /** The target table as written, and its key. */
  table: string;
  key: string;
  hasWhere: boolean;
}

/** A DELETE or UPDATE statement's target and whether it has a WHERE of its own (not in a subquery). */
export function dmlShape(ts: readonly Token[]): DmlShape | undefined {
  let i = afterWith(ts);
  const verb = ts[i]?.text.toUpperCase();
  if (verb !== 'DELETE' && verb !== 'UPDATE') return undefined;
  i++;
  if (verb === 'DELETE' && kw(ts[i], 'FROM')) i++;
  if (verb === 'UPDATE' && kw(ts[i], 'OR')) i += 2;
  let tableTokens = [ts[i]];
  if (ts[i + 1]?.text === '.') tableTokens = [ts[i], ts[i + 1], ts[i + 2]];
  const last = tableTokens[tableTokens.length - 1];
  let depth = 0;
  let hasWhere = false;
  for (const t of ts.slice(i)) {
    if (t.text === '(') depth++;
    else if (t.text === ')') depth--;
    else if (depth === 0 && kw(t, 'WHERE')) hasWhere = true;
  }
  return { verb, table: tableTokens.map((t) => t?.text ?? '').join(''), key: nameOf(last) ?? '', hasWhere };
}

/** `PRAGMA [schema.]foreign_keys = OFF` (or 0, false, no). */
export function turnsForeignKeysOff(ts: readonly Token[]): boolean {
  if (!kw(ts[0], 'PRAGMA')) return false;
  const rest = ts[2]?.text === '.' ? ts.slice(3) : ts.slice(1);
  if (nameOf(rest[0]) !== 'foreign_keys') return false;
  const v = rest[1]?.text === '=' ? rest[2] : rest[1]?.text === '(' ? rest[2] : undefined;
  return ['off', '0', 'false', 'no'].includes(nameOf(v) ?? v?.text.toLowerCase() ?? '');
}

/** INSERT/REPLACE, or CREATE TABLE … AS: statements that may copy rows from one table into another. */
export function mayCopyRows(ts: readonly Token[]): boolean {
  const i = afterWith(ts);
  if (kw(ts[i], 'INSERT', 'REPLACE')) return true;
  return kw(ts[0], 'CREATE') && ts.some((t, j) => j > 0 && kw(t, 'AS') && kw(ts[j + 1], 'SELECT', 'WITH', 'VALUES'));
}
