// From an engine's raw findings to the report's: positions as line:column, and what `bg:contract`
// (or a *.contract.* file name) and `-- bg:allow RULE reason` comments accept. Shared by both
// dialects; the engines only say which statements a finding belongs to.
import { RULES, isRuleId, type RuleId, type Severity } from './rules.js';

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

/** A statement of the file: offsets [start, end) in the source, without its `;`. */
export interface Span {
  start: number;
  end: number;
}

export interface SqlComment {
  text: string;
  start: number;
  end: number;
}

export interface RawFinding {
  rule: RuleId;
  /** Offset the finding points at. */
  at: number;
  /** Statements (indexes) whose `bg:allow` may accept it; the first is the one quoted. */
  stmts: number[];
  /** What the statement does (the rule's `why` is appended). */
  what: string;
}

interface Stmt extends Span {
  i: number;
  startLine: number;
  endLine: number;
}

interface Directive {
  kind: 'allow' | 'contract';
  comment: SqlComment;
  rest: string;
}

interface Pending {
  rule: RuleId;
  at: number;
  stmts: number[];
  message: string;
  statement: string;
  accepted?: string;
}

/** Line starts of a source, and offset → 1-based line and column. */
export class Positions {
  readonly lineStarts: number[] = [0];
  constructor(readonly src: string) {
    for (let i = 0; i < src.length; i++) if (src[i] === '\n') this.lineStarts.push(i + 1);
  }
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
}

export function excerpt(src: string, s: Span): string {
  const t = src.slice(s.start, s.end).replace(/\s+/g, ' ').trim();
  return t.length > 120 ? `${t.slice(0, 119)}…` : t;
}

/** The findings of one file, accepted or not, in source order; and whether it is a contract migration. */
export function settle(
  src: string,
  file: string,
  spans: readonly Span[],
  comments: readonly SqlComment[],
  raw: readonly RawFinding[],
): { findings: Finding[]; contract: string | null } {
  const p = new Positions(src);
  const stmts: Stmt[] = spans.map((s, i) => ({ ...s, i, startLine: p.pos(s.start).line, endLine: p.pos(Math.max(s.start, s.end - 1)).line }));
  const pending: Pending[] = raw.map((r) => ({
    rule: r.rule,
    at: r.at,
    stmts: r.stmts,
    message: `${r.what}; ${RULES[r.rule].why}`,
    statement: excerpt(src, stmts[r.stmts[0]!] ?? { start: r.at, end: r.at }),
  }));
  const contract = accept(src, file, p, stmts, comments, pending);
  const findings = pending
    .sort((a, b) => a.at - b.at)
    .map((r) => {
      const { line, column } = p.pos(r.at);
      const rule = RULES[r.rule];
      return {
        file,
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
  return { findings, contract };
}

function accept(src: string, file: string, p: Positions, stmts: Stmt[], comments: readonly SqlComment[], raw: Pending[]): string | null {
  let contract: string | null = null;
  const directives = directivesOf(comments);
  const firstStart = stmts[0]?.start ?? Infinity;
  const kinds = lineKinds(src, p, comments);
  const meta: Pending[] = [];
  // Findings about the comments themselves: the message says it all, without the rule's `why`.
  const metaAt = (rule: RuleId, d: Directive, message: string, targets: number[] = []) =>
    meta.push({ rule, at: d.comment.start, stmts: targets, message, statement: d.comment.text.trim() });

  if (/\.contract\./i.test(baseName(file))) contract = 'contract migration (file name contains ".contract.")';
  for (const d of directives) {
    if (d.kind !== 'contract') continue;
    if (d.comment.end <= firstStart) contract ??= `contract migration (-- bg:contract${d.rest ? `: ${d.rest}` : ''})`;
    else metaAt('unused-directive', d, '`bg:contract` after the first statement does not mark the migration as a contract step');
  }

  for (const d of directives) {
    if (d.kind !== 'allow') continue;
    const m = /^(\S*)\s*(.*)$/s.exec(d.rest)!;
    const ids = (m[1] ?? '').split(',').map((x) => x.replace(/:$/, '').trim()).filter(Boolean);
    const reason = (m[2] ?? '').replace(/^[-:—–\s]+/, '').trim();
    const targets = targetsOf(d.comment, p, stmts, kinds);
    if (ids.length === 0) {
      metaAt('allow-without-reason', d, '`bg:allow` names no rule and gives no reason', targets);
      continue;
    }
    for (const u of ids.filter((x) => !isRuleId(x))) metaAt('unused-directive', d, `\`bg:allow ${u}\`: no rule has that id${suggest(u)}`, targets);
    if (!reason) {
      metaAt('allow-without-reason', d, `\`bg:allow ${ids.join(',')}\` gives no reason, so it accepts nothing`, targets);
      continue;
    }
    if (targets.length === 0) {
      metaAt('unused-directive', d, `\`bg:allow ${ids.join(',')}\` is neither on a statement’s line nor directly above one`);
      continue;
    }
    for (const id of ids.filter(isRuleId)) {
      const hits = raw.filter((f) => f.rule === id && RULES[f.rule].acceptable && f.stmts.some((i) => targets.includes(i)));
      for (const f of hits) f.accepted = `bg:allow: ${reason}`;
      if (hits.length === 0) metaAt('unused-directive', d, `\`bg:allow ${id}\`: the statement on line ${stmts[targets[0]!]!.startLine} has no ${id} finding`, targets);
    }
  }

  if (contract) for (const f of raw) if (f.accepted === undefined && RULES[f.rule].acceptable) f.accepted = contract;
  raw.push(...meta);
  return contract;
}

function directivesOf(comments: readonly SqlComment[]): Directive[] {
  const out: Directive[] = [];
  for (const c of comments) {
    const body = c.text.startsWith('--') ? c.text.slice(2) : c.text.replace(/^\/\*|\*\/$/g, '');
    const m = /^\s*bg:(allow|contract)\b(.*)$/s.exec(body);
    if (m) out.push({ kind: m[1] as 'allow' | 'contract', comment: c, rest: (m[2] ?? '').replace(/\s+/g, ' ').trim() });
  }
  return out;
}

/** Per line (0-based): blank, comment only, or holding code. */
function lineKinds(src: string, p: Positions, comments: readonly SqlComment[]): Array<'blank' | 'comment' | 'code'> {
  const inComment = new Uint8Array(src.length);
  for (const c of comments) inComment.fill(1, c.start, c.end);
  return p.lineStarts.map((ls, i) => {
    const le = p.lineStarts[i + 1] ?? src.length;
    let comment = false;
    for (let j = ls; j < le; j++) {
      if (inComment[j]) comment = true;
      else if (!/\s/.test(src[j]!)) return 'code';
    }
    return comment ? 'comment' : 'blank';
  });
}

/** The statements a `bg:allow` comment applies to: those on its line, else the one right below. */
function targetsOf(c: SqlComment, p: Positions, stmts: Stmt[], kinds: Array<'blank' | 'comment' | 'code'>): number[] {
  const line = p.pos(c.start).line;
  const same = stmts.filter((s) => s.startLine <= line && line <= s.endLine).map((s) => s.i);
  if (same.length) return same;
  let l = p.pos(Math.max(c.start, c.end - 1)).line + 1; // 1-based line after the comment
  while (l <= kinds.length && kinds[l - 1] === 'comment') l++;
  const below = stmts.find((s) => s.startLine === l);
  return below ? [below.i] : [];
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
