// db-inspect on PostgreSQL envs (shell: bg_pg_inspect in src/remote/pg-inspect.sh).
import { PlanProblem, type StepBody } from '../action.js';
import type { ResolvedEnv, ResolvedHost } from '../host-model.js';
import { shellQuote } from '../quote.js';
import { call } from '../sh-lib.js';
import { pgPreflight } from '../pg-preflight.js';
import { pgConnWords } from './pg-common.js';

/** The envs db-inspect looks at when they are PostgreSQL ones, else undefined (SQLite: dbEnvs checks them). */
export function pgInspectEnvs(host: ResolvedHost, names: string[] | undefined): ResolvedEnv[] | undefined {
  const list = names ? names.map((n) => (Object.hasOwn(host.envs, n) ? host.envs[n]! : undefined)) : Object.values(host.envs).filter((e) => e.db !== undefined || e.pg !== undefined);
  if (!list.some((e) => e?.pg)) return undefined;
  list.forEach((e, i) => {
    if (e && !e.pg) throw new PlanProblem(`env \`${e.name}\` is SQLite and another PostgreSQL: db-inspect compares databases of one kind`, names ? ['with', 'envs', i] : ['env']);
  });
  if (list.some((e) => e === undefined)) return undefined; // dbEnvs names the unknown env
  if (list.length < 2) throw new PlanProblem(`this action compares databases: host \`${host.name}\` has only one env with a \`db\``, ['with', 'envs']);
  return list as ResolvedEnv[];
}

/**
 * Read-only: per database its size, per table rows, size and newest write; then which database
 * holds rows another lacks, by content (md5 of each row over the columns both tables have,
 * compared as sorted lists on the host); and the base share-db would take.
 */
export function buildPgInspect(host: ResolvedHost, envs: ResolvedEnv[], p: { base: string; migrations_table: string; migrations_column: string }): StepBody {
  const report = call('bg_pg_inspect', shellQuote(p.base), shellQuote(p.migrations_table), shellQuote(p.migrations_column), ...envs.flatMap((e) => [shellQuote(e.name), ...pgConnWords(e.pg!)]));
  return {
    mutates: false,
    preflight: pgPreflight(host, envs),
    run: [{ cmd: report, label: `inspect ${envs.map((e) => e.name).join(', ')}`, report: true }],
    verify: [],
    undoNote: 'read-only',
  };
}
