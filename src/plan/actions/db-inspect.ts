import { z } from 'zod';
import { PlanProblem, type ActionDef } from '../action.js';
import { quotePath, shellQuote } from '../quote.js';
import { call } from '../sh-lib.js';
import { envArgs } from '../env-args.js';
import { dbEnvs, dbParams } from './db-common.js';
import { anyMultiDb, dbGroups } from './db-names.js';
import { databaseIntact, toolPresent } from '../preflight.js';
import { SQLITE } from '../sqlite-features.js';
import { buildPgInspect, pgInspectEnvs } from './db-inspect-pg.js';
import { dbsOf } from '../host-model.js';

const params = z
  .object({
    ...dbParams,
    /** `auto`: fail when no env holds every row of the others. An env name: report what it lacks. */
    base: z.string().min(1).default('auto'),
  })
  .strict();


/** What this action's own sqlite3 calls need of the host's sqlite3 (checked in pre-flight; see sqlite-features.ts). */
export const dbInspectSqlite = [SQLITE.pragmaFunctions, SQLITE.printf];

/**
 * Read-only report: per env's database its size, tables, row counts and newest writes, then which
 * rows each holds that another lacks (by content), and which env share-db can take as its base.
 * With `base: auto` it fails when every env holds rows another lacks (share-db would refuse too).
 */
export const dbInspectAction: ActionDef<z.output<typeof params>> = {
  name: 'db-inspect',
  summary: "size, tables, row counts and newest writes of the envs' databases; which holds every row",
  env: 'none',
  params,
  build({ params: p, host }) {
    const pgEnvs = pgInspectEnvs(host, p.envs);
    if (pgEnvs && p.base !== 'auto' && !pgEnvs.some((e) => e.name === p.base))
      throw new PlanProblem(`\`base\` must be auto or one of ${pgEnvs.map((e) => e.name).join(', ')}`, ['with', 'base']);
    if (pgEnvs) return buildPgInspect(host, pgEnvs, p);
    const envs = dbEnvs(host, p.envs);
    if (p.base !== 'auto' && !envs.some((e) => e.name === p.base))
      throw new PlanProblem(`\`base\` must be auto or one of ${envs.map((e) => e.name).join(', ')}`, ['with', 'base']);
    if (anyMultiDb(envs)) {
      // Per database name (`dbs:`): one report per name the envs share, each as ENV.NAME; a name only some have is a difference.
      const { shared, partial } = dbGroups(envs);
      return {
        mutates: false,
        preflight: [toolPresent('sqlite3'), ...envs.flatMap((e) => dbsOf(e).map((d) => databaseIntact(d.path)))],
        run: [
          ...partial.map((g) => ({ cmd: call('bg_db_name_absent', shellQuote(g.name), shellQuote(g.has.join(', ')), shellQuote(g.lacks.join(', '))), label: `database ${g.name} in every env` })),
          ...shared.map((g) => ({
            cmd: call('bg_db_inspect', shellQuote(p.base === 'auto' ? 'auto' : g.dbs.find((d) => d.env.name === p.base)!.label), shellQuote(p.migrations_table), shellQuote(p.migrations_column), ...g.dbs.flatMap((d) => [shellQuote(d.label), quotePath(d.path), shellQuote(d.env.app ?? '')])),
            label: `inspect ${g.dbs.map((d) => d.label).join(', ')}`,
          })),
        ],
        verify: [],
        undoNote: 'read-only',
      };
    }
    const report = call('bg_db_inspect', shellQuote(p.base), shellQuote(p.migrations_table), shellQuote(p.migrations_column), ...envArgs(envs));
    return {
      mutates: false,
      preflight: [toolPresent('sqlite3'), ...envs.map((e) => databaseIntact(e.db))],
      run: [{ cmd: report, label: `inspect ${envs.map((e) => e.name).join(', ')}`, report: true }],
      verify: [],
      undoNote: 'read-only',
    };
  },
};
