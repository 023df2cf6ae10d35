import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { it } from 'vitest';
import { median, report, timeCommand, times } from './stats.js';

// Issue 15: `bg lint` on the corpus, this build against another one (BENCH_BG_OLD: the bin/bg.js
// of a build with the sql-parser-cst engine, made with `git archive`; see bench/README.md).
const repo = fileURLToPath(new URL('..', import.meta.url));
const CORPUS = path.join(repo, 'test/fixtures/migrations');
const RUNS = Number(process.env.BENCH_RUNS ?? 10);

function corpusFiles(dir = CORPUS): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((n) => {
      const p = path.join(dir, n);
      return statSync(p).isDirectory() ? corpusFiles(p) : /\.sql$/.test(n) && !n.startsWith('_') ? [p] : [];
    });
}

type Lint = (sql: string, file: string, dialect: 'sqlite' | 'postgres') => Promise<unknown>;

/** The in-process lint of one build: the new engine starts each SQLite file from the corpus schema (its loading included), the old one had none. */
async function loader(bin: string): Promise<{ lint: Lint; label: string }> {
  const dist = path.join(path.dirname(bin), '../dist/lint/');
  const analyze = await import(pathToFileURL(path.join(dist, 'analyze.js')).href);
  const engines = path.join(dist, 'engines.js');
  if (existsSync(engines)) await (await import(pathToFileURL(engines).href)).loadEngines();
  if (typeof analyze.cloneSchema === 'function') {
    const schemaOf = (d: string) => d === 'sqlite' ? readFileSync(path.join(repo, 'test/fixtures/lint-schema/sqlite.sql'), 'utf8') : undefined;
    return { label: 'sql.js + libpg-query', lint: async (sql, file, dialect) => {
      const schema = analyze.newSchema(schemaOf(dialect));
      try {
        return analyze.lintMigration(sql, { file, dialect, schema });
      } finally {
        analyze.closeSchema(schema);
      }
    } };
  }
  return { label: 'sql-parser-cst', lint: async (sql, file, dialect) => analyze.lintMigration(sql, { file, dialect }) };
}

async function measure(bin: string) {
  const { lint, label } = await loader(bin);
  const files = corpusFiles().map((f) => ({ f, sql: readFileSync(f, 'utf8'), dialect: f.includes('/postgres/') ? ('postgres' as const) : ('sqlite' as const) }));
  const t0 = performance.now();
  for (const x of files) await lint(x.sql, x.f, x.dialect).catch(() => undefined); // first pass: loads the engines
  const first = performance.now() - t0;
  const perPass = await times(RUNS, async () => {
    const t = performance.now();
    for (const x of files) await lint(x.sql, x.f, x.dialect).catch(() => undefined);
    return performance.now() - t;
  });
  const cli = (args: string[]) => timeCommand('node', [bin, 'lint', ...args], { cwd: repo }).catch(() => NaN);
  const app = ['examples/app/migrations'];
  await cli(app);
  const appTimes = await times(RUNS, () => cli(app));
  return {
    engine: label,
    files: files.length,
    'corpus, first pass in process incl. engine load (ms)': Math.round(first),
    'corpus, one pass in process (ms, median)': Math.round(median(perPass)),
    'per file (ms, median pass / files)': +(median(perPass) / files.length).toFixed(2),
    'bg lint examples/app/migrations, whole process (ms, median)': Math.round(median(appTimes)),
  };
}

it('bg lint on the corpus', async () => {
  const current = await measure(path.join(repo, 'bin/bg.js'));
  const old = process.env.BENCH_BG_OLD ? await measure(process.env.BENCH_BG_OLD) : undefined;
  report('lint', { runs: RUNS, node: process.version, current, ...(old ? { old } : {}) });
});
