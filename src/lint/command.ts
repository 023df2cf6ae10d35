// `bg lint PATHS`: lint migration files, print the report, return the exit code —
// 0 nothing breaking (or all of it accepted), 1 a breaking finding, 2 bad input (a path that
// does not exist, a file that cannot be read or does not parse). Never throws for bad input.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ExitCode } from '../errors.js';
import { lintMigration, newSchema, SqlParseError, type LintResult } from './analyze.js';
import { expandPaths } from './files.js';
import { fails, formatError, formatJson, formatText, lintAnnotations, type LintError, type LintReport } from './format.js';
import { annotate } from '../cli/github.js';
import { githubAnnotations } from '../cli/output.js';
import type { Dialect } from './rules.js';

export interface LintArgs {
  paths: string[];
  dialect?: Dialect | undefined;
  json?: boolean | undefined;
}

export interface LintIo {
  out: (s: string) => void;
  err: (s: string) => void;
}

/** `bg lint` exit code when a migration would break the running version (shares 1 with a failed run). */
export const LINT_BREAKING = 1;

const defaultIo: LintIo = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
};

/** Lints every file; migrations of one directory share what earlier ones created. */
export async function lintPaths(paths: readonly string[], dialect?: Dialect): Promise<LintReport> {
  const report: LintReport = { files: [], errors: [] };
  if (paths.length === 0) {
    report.errors.push({ file: '.', message: 'give at least one migration file or directory' });
    return report;
  }
  const { files, problems } = await expandPaths(paths);
  report.errors.push(...problems);
  const sources: Array<{ file: string; dir: string; sql: string }> = [];
  for (const file of files) {
    try {
      sources.push({ file, dir: path.dirname(path.resolve(file)), sql: await readFile(file, 'utf8') });
    } catch (e) {
      report.errors.push({ file, message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}` });
    }
  }
  // Migrations of one directory are a sequence: they share what earlier ones created. Without
  // --dialect, a directory with a file that parses only as PostgreSQL is linted again, all of it
  // as PostgreSQL (its other files may parse as SQLite too, and would miss the PostgreSQL rules).
  const groups = new Map<string, Array<{ idx: number; file: string; sql: string }>>();
  sources.forEach(({ file, dir, sql }, idx) => {
    if (!groups.has(dir)) groups.set(dir, []);
    groups.get(dir)!.push({ idx, file, sql });
  });
  const results: Array<{ result?: LintResult; error?: LintError }> = [];
  for (const group of groups.values()) {
    let out = lintSequence(group, dialect, false);
    if (dialect === undefined && out.some((r) => r.result?.dialectDetected)) out = lintSequence(group, 'postgres', true);
    group.forEach((g, i) => (results[g.idx] = out[i]!));
  }
  for (const r of results) {
    if (r?.result) report.files.push(r.result);
    if (r?.error) report.errors.push(r.error);
  }
  return report;
}

function lintSequence(
  files: ReadonlyArray<{ file: string; sql: string }>,
  dialect: Dialect | undefined,
  detected: boolean,
): Array<{ result?: LintResult; error?: LintError }> {
  const schema = newSchema();
  return files.map(({ file, sql }) => {
    try {
      return { result: lintMigration(sql, { file, dialect, dialectDetected: detected, schema }) };
    } catch (e) {
      if (e instanceof SqlParseError)
        return { error: { file, line: e.line, column: e.column, message: `syntax error (${e.dialect}): ${e.reason}` } };
      // A bug in bg, not in the migration: say so instead of crashing, and decide nothing (exit 2).
      return { error: { file, message: `bg could not lint this file (a bug in bg lint, please report it): ${e instanceof Error ? e.message : String(e)}` } };
    }
  });
}

export async function lintCommand(
  args: { paths: string[]; dialect?: 'sqlite' | 'postgres' | undefined; json?: boolean | undefined; ci?: boolean | undefined },
  io: LintIo = defaultIo,
): Promise<number> {
  if (args.dialect !== undefined && args.dialect !== 'sqlite' && args.dialect !== 'postgres') {
    io.err(`bg lint: --dialect must be sqlite or postgres, not ${JSON.stringify(args.dialect)}\n`);
    return ExitCode.badInput;
  }
  const report = await lintPaths(args.paths, args.dialect);
  if (args.json) {
    io.out(formatJson(report));
  } else {
    io.out(formatText(report, { errors: false }));
    for (const e of report.errors) io.err(`bg lint: ${formatError(e)}\n`);
    // In a pull request's checks, every finding also shows on its line of the diff.
    if (githubAnnotations(args)) annotate(lintAnnotations(report));
  }
  if (report.errors.length) return ExitCode.badInput;
  return report.files.some((f) => f.findings.some(fails)) ? LINT_BREAKING : ExitCode.ok;
}
