// The two forms of a lint report: text for people (grouped per file) and JSON for machines.
import type { Finding, LintResult } from './analyze.js';
import type { Dialect } from './rules.js';
import type { Annotation } from '../cli/github.js';

export interface LintError {
  file: string;
  line?: number;
  column?: number;
  message: string;
}

export interface LintReport {
  files: LintResult[];
  errors: LintError[];
}

export interface LintSummary {
  /** Findings that fail the lint: breaking and not accepted. */
  breaking: number;
  accepted: number;
  warnings: number;
  errors: number;
}

export function summarize(report: LintReport): LintSummary {
  const all = report.files.flatMap((f) => f.findings);
  return {
    breaking: all.filter(fails).length,
    accepted: all.filter((f) => f.accepted).length,
    warnings: all.filter((f) => !f.accepted && f.severity === 'warning').length,
    errors: report.errors.length,
  };
}

export function fails(f: Finding): boolean {
  return !f.accepted && f.severity === 'breaking';
}

export function formatError(e: LintError): string {
  const where = e.line ? `${e.file}:${e.line}:${e.column ?? 1}` : e.file;
  return `${where}: ${e.message}`;
}

/**
 * Text report: per file, one entry per finding —
 *   file:line:col  RULE  message
 *       > statement
 *       safe alternative: …
 * accepted ones as `file:line:col  RULE  accepted (reason): message` — then a summary line.
 */
export function formatText(report: LintReport, opts: { errors?: boolean } = {}): string {
  const out: string[] = [];
  for (const f of report.files) {
    if (f.findings.length === 0) continue;
    if (out.length) out.push('');
    const note = f.dialectDetected ? ` (${f.dialect === 'postgres' ? 'PostgreSQL' : 'SQLite'}, detected)` : '';
    out.push(`${f.file}${note}`);
    for (const x of f.findings) {
      const where = `${x.file}:${x.line}:${x.column}`;
      if (x.accepted) {
        out.push(`  ${where}  ${x.rule}  accepted (${x.acceptedBecause}): ${x.message}`);
        continue;
      }
      const tag = x.severity === 'warning' ? 'warning: ' : '';
      out.push(`  ${where}  ${x.rule}  ${tag}${x.message}`);
      out.push(`      > ${x.statement}`);
      out.push(`      safe alternative: ${x.fix}`);
    }
  }
  for (const e of opts.errors === false ? [] : report.errors) {
    if (out.length) out.push('');
    out.push(formatError(e));
  }
  const s = summarize(report);
  if (out.length) out.push('');
  const n = report.files.length;
  const parts = [`${s.breaking} breaking`, `${s.accepted} accepted`];
  if (s.warnings) parts.push(`${s.warnings} warning${s.warnings === 1 ? '' : 's'}`);
  if (s.errors) parts.push(`${s.errors} error${s.errors === 1 ? '' : 's'}`);
  out.push(`${parts.join(', ')} in ${n} migration${n === 1 ? '' : 's'}`);
  return out.join('\n') + '\n';
}

export interface LintJson {
  version: 1;
  files: Array<{ file: string; dialect: Dialect; dialectDetected: boolean; contract: boolean; statements: number }>;
  findings: Finding[];
  errors: LintError[];
  summary: LintSummary;
}

export function toJson(report: LintReport): LintJson {
  return {
    version: 1,
    files: report.files.map((f) => ({
      file: f.file,
      dialect: f.dialect,
      dialectDetected: f.dialectDetected,
      contract: f.contract,
      statements: f.statements,
    })),
    findings: report.files.flatMap((f) =>
      f.findings.map((x) => ({
        file: x.file,
        line: x.line,
        column: x.column,
        rule: x.rule,
        severity: x.severity,
        message: x.message,
        fix: x.fix,
        accepted: x.accepted,
        acceptedBecause: x.acceptedBecause,
        statement: x.statement,
      })),
    ),
    errors: report.errors,
    summary: summarize(report),
  };
}

export function formatJson(report: LintReport): string {
  return JSON.stringify(toJson(report), null, 2) + '\n';
}

/**
 * GitHub Actions annotations: a breaking finding is an error, a warning a warning, each on its
 * file, line and column with the rule as title; files that cannot be read or parsed are errors.
 * Accepted findings are left out (someone decided on them; the text report still lists them).
 */
export function lintAnnotations(report: LintReport): Annotation[] {
  const out: Annotation[] = [];
  for (const f of report.files)
    for (const x of f.findings) {
      if (x.accepted) continue;
      out.push({
        level: fails(x) ? 'error' : 'warning',
        file: x.file,
        line: x.line,
        column: x.column,
        title: `bg lint: ${x.rule}`,
        message: `${x.message}\n> ${x.statement}\nsafe alternative: ${x.fix}`,
      });
    }
  for (const e of report.errors) out.push({ level: 'error', file: e.file, line: e.line, column: e.column, title: 'bg lint', message: e.message });
  return out;
}
