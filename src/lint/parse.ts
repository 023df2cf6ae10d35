// The one place that talks to the SQL parser (sql-parser-cst): SQL text → statements with
// positions, and every comment. Swapping the parser means rewriting this file and the node
// accessors in analyze.ts, nothing else.
import { parse, type Program, type Statement, type Whitespace } from 'sql-parser-cst';
import type { Dialect } from './rules.js';

export type { Statement };

export interface ParsedStatement {
  node: Statement;
  /** Offsets in the source: [start, end). */
  start: number;
  end: number;
}

export interface SqlComment {
  text: string;
  start: number;
  end: number;
}

export type ParseResult =
  | { ok: true; statements: ParsedStatement[]; comments: SqlComment[] }
  | { ok: false; line: number; column: number; message: string };

const PARSER_DIALECT = { sqlite: 'sqlite', postgres: 'postgresql' } as const;

export function parseSql(sql: string, dialect: Dialect): ParseResult {
  let program: Program;
  try {
    program = parse(sql, {
      dialect: PARSER_DIALECT[dialect],
      includeRange: true,
      includeComments: true,
      filename: 'sql',
    });
  } catch (e) {
    return syntaxError(e);
  }
  const statements: ParsedStatement[] = [];
  for (const node of program.statements) {
    if (node.type === 'empty' || !node.range) continue;
    statements.push({ node, start: node.range[0], end: node.range[1] });
  }
  return { ok: true, statements, comments: collectComments(program) };
}

/**
 * The parser's error message ends with `--> sql:LINE:COL` and a caret excerpt; the location is
 * not exposed otherwise, so it is read back from the message.
 */
function syntaxError(e: unknown): ParseResult {
  const text = e instanceof Error ? e.message : String(e);
  const at = /-->\s*sql:(\d+):(\d+)/.exec(text);
  const head = text.split('\n').filter((l) => !l.startsWith('-->') && !/^\s*\d*\s*\|/.test(l));
  const message = head.join('; ').replace(/^Syntax Error: /, '').trim() || 'syntax error';
  return { ok: false, line: at ? Number(at[1]) : 1, column: at ? Number(at[2]) : 1, message };
}

/** Every comment in the tree: the parser attaches them as `leading`/`trailing` of nodes. */
function collectComments(root: unknown): SqlComment[] {
  const out: SqlComment[] = [];
  const seen = new Set<number>();
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) {
      for (const x of v) visit(x);
      return;
    }
    if (typeof v !== 'object' || v === null) return;
    for (const [k, x] of Object.entries(v)) {
      if (k === 'leading' || k === 'trailing') {
        for (const w of x as Whitespace[]) {
          if ((w.type === 'line_comment' || w.type === 'block_comment') && w.range && !seen.has(w.range[0])) {
            seen.add(w.range[0]);
            out.push({ text: w.text, start: w.range[0], end: w.range[1] });
          }
        }
      } else if (typeof x === 'object' && x !== null) visit(x);
    }
  };
  visit(root);
  return out.sort((a, b) => a.start - b.start);
}
