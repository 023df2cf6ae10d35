// `bg lint PATHS [--schema FILE]`: lint migration files, print the report, return the exit code —
// 0 nothing breaking (or all of it accepted), 1 a breaking finding, 2 bad input (a path that
// does not exist, a file that cannot be read, a migration SQLite or PostgreSQL rejects).
// Never throws for bad input.
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { ExitCode } from '../errors.js';
import { closeSchema, lintMigration, NeedsPostgres, newSchema, rejectedBy, SchemaRejected, SqlParseError, type LintResult } from './analyze.js';
import { loadEngines } from './engines.js';
import { compareMigrationNames, expandPaths } from './files.js';
import { fails, formatError, formatJson, formatText, lintAnnotations, type LintError, type LintReport } from './format.js';
import { annotate } from '../cli/github.js';
import { githubAnnotations } from '../cli/output.js';
import type { Dialect } from './rules.js';

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

export interface LintPathsOptions {
  dialect?: Dialect | undefined;
  /** The schema every directory's first migration starts from (SQL text). */
  schemaSql?: string | undefined;
  /** Where schemaSql came from, for its errors. */
  schemaFile?: string | undefined;
}

/** Lints every file; the migrations of one directory are a sequence, each starting from the schema the earlier ones left. */
export async function lintPaths(paths: readonly string[], opts: LintPathsOptions | Dialect = {}): Promise<LintReport> {
  const o: LintPathsOptions = typeof opts === 'string' ? { dialect: opts } : opts;
  const report: LintReport = { files: [], errors: [] };
  if (paths.length === 0) {
    report.errors.push({ file: '.', message: 'give at least one migration file or directory' });
    return report;
  }
  const { files, problems } = await expandPaths(paths);
  report.errors.push(...problems);
  const sources: Array<{ file: string; dir: string; sql: string; context?: true }> = [];
  const given = new Set(files.map((f) => path.resolve(f)));
  for (const file of files) {
    // A file given alone, without --schema, starts from the schema its directory's earlier
    // migrations build (read for the schema only: their findings are not reported).
    if (o.schemaSql === undefined && (await isFile(file)) && paths.some((p) => path.resolve(p) === path.resolve(file)))
      for (const earlier of await earlierSiblings(file))
        if (!given.has(earlier) && !sources.some((s) => path.resolve(s.file) === earlier)) {
          try {
            sources.push({ file: earlier, dir: path.dirname(earlier), sql: await readFile(earlier, 'utf8'), context: true });
          } catch {
            // Unreadable context only makes the schema less complete.
          }
        }
    try {
      sources.push({ file, dir: path.dirname(path.resolve(file)), sql: await readFile(file, 'utf8') });
    } catch (e) {
      report.errors.push({ file, message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}` });
    }
  }
  await loadEngines([o.dialect ?? 'sqlite']);
  // Without --dialect, a directory with a file that only PostgreSQL's parser accepts is linted
  // again, all of it as PostgreSQL (its other files may be valid SQLite too, and would miss the
  // PostgreSQL rules).
  const groups = new Map<string, Array<{ idx: number; file: string; sql: string }>>();
  sources.forEach(({ file, dir, sql }, idx) => {
    if (!groups.has(dir)) groups.set(dir, []);
    groups.get(dir)!.push({ idx, file, sql });
  });
  const results: Array<{ result?: LintResult; error?: LintError }> = [];
  for (const group of groups.values()) {
    let out = lintSequence(group, o, o.dialect, false);
    if (o.dialect === undefined && out.some((r) => r.result?.dialectDetected || r.needsPostgres)) {
      await loadEngines(['postgres']);
      out = lintSequence(group, o, 'postgres', true);
    }
    group.forEach((g, i) => (results[g.idx] = out[i]!));
  }
  results.forEach((r, i) => {
    if (sources[i]?.context) return;
    if (r?.result) report.files.push(r.result);
    if (r?.error) report.errors.push(r.error);
  });
  return report;
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

/** The `.sql` files beside `file` that come before it in migration order (absolute paths). */
async function earlierSiblings(file: string): Promise<string[]> {
  const dir = path.dirname(path.resolve(file));
  const name = path.basename(file);
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile() && /\.sql$/i.test(e.name)).map((e) => e.name);
  } catch {
    return [];
  }
  return names.filter((n) => compareMigrationNames(n, name) < 0).sort(compareMigrationNames).map((n) => path.join(dir, n));
}

function lintSequence(
  files: ReadonlyArray<{ file: string; sql: string }>,
  o: LintPathsOptions,
  dialect: Dialect | undefined,
  detected: boolean,
): Array<{ result?: LintResult; error?: LintError; needsPostgres?: boolean }> {
  const schema = newSchema(o.schemaSql);
  try {
    return files.map(({ file, sql }, i) => {
      try {
        return { result: lintMigration(sql, { file, dialect, dialectDetected: detected, schema }) };
      } catch (e) {
        if (e instanceof NeedsPostgres) return { needsPostgres: true };
        if (e instanceof SqlParseError) {
          // A schema that SQLite rejects is the --schema file's problem, not the migration's.
          if (e instanceof SchemaRejected) return { error: { file: o.schemaFile ?? 'schema', line: e.line, column: e.column, message: `${rejectedBy(e.dialect)}: ${e.reason}` } };
          const hint = /^no such (table|column|index)/.test(e.reason) && !o.schemaSql ? ' (the schema this migration starts from is not known: give it with --schema, or lint the whole directory)' : '';
          return { error: { file, line: e.line, column: e.column, message: `${rejectedBy(e.dialect)}: ${e.reason}${hint}` } };
        }
        // A bug in bg, not in the migration: say so instead of crashing, and decide nothing (exit 2).
        return { error: { file, message: `bg could not lint this file (a bug in bg lint, please report it): ${e instanceof Error ? e.message : String(e)}` } };
      }
    });
  } finally {
    closeSchema(schema);
  }
}

export async function lintCommand(
  args: { paths: string[]; dialect?: 'sqlite' | 'postgres' | undefined; json?: boolean | undefined; ci?: boolean | undefined; schema?: string | undefined },
  io: LintIo = defaultIo,
): Promise<number> {
  if (args.dialect !== undefined && args.dialect !== 'sqlite' && args.dialect !== 'postgres') {
    io.err(`bg lint: --dialect must be sqlite or postgres, not ${JSON.stringify(args.dialect)}\n`);
    return ExitCode.badInput;
  }
  let schemaSql: string | undefined;
  if (args.schema !== undefined) {
    try {
      schemaSql = await readFile(args.schema, 'utf8');
    } catch (e) {
      io.err(`bg lint: ${args.schema}: cannot read the --schema file: ${(e as NodeJS.ErrnoException).code ?? String(e)}\n`);
      return ExitCode.badInput;
    }
  }
  const report = await lintPaths(args.paths, { dialect: args.dialect, schemaSql, schemaFile: args.schema });
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
