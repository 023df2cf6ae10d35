import { z } from 'zod';
import type { ActionDef } from '../action.js';
import { quotePath, shellQuote } from '../quote.js';
import { call } from '../sh-lib.js';
import { dbEnvs, dbParams } from './db-common.js';
import { anyMultiDb, dbGroups } from './db-names.js';
import { databaseIntact, toolPresent } from '../preflight.js';
import { SQLITE } from '../sqlite-features.js';
import { pgConnWords } from './pg-common.js';
import { pgPreflight } from '../pg-preflight.js';
import { PlanProblem } from '../action.js';
import type { ResolvedEnv, ResolvedHost } from '../host-model.js';
import { dbsOf } from '../host-model.js';

const params = z.object({ ...dbParams }).strict();

/** What this action's own sqlite3 calls need of the host's sqlite3 (checked in pre-flight; see sqlite-features.ts). */
export const schemaCheckSqlite = [SQLITE.pragmaFunctions, SQLITE.printf, SQLITE.charFunction, SQLITE.instr];

/**
 * Fingerprint the envs' databases from SQLite's catalog (tables, columns, indexes, foreign keys,
 * views, triggers) plus the applied migrations, and require them equal. On a difference, the
 * differing lines are printed (stderr) and the step fails.
 */
export const schemaCheckAction: ActionDef<z.output<typeof params>> = {
  name: 'schema-check',
  summary: "compare the envs' schema fingerprints (SQLite's or PostgreSQL's catalog + applied migrations)",
  env: 'none',
  params,
  build({ params: p, host }) {
    const pgEnvs = postgresEnvs(host, p.envs);
    if (pgEnvs) {
      // bg_pg_schema_check (src/remote/pg.sh): the same comparison from pg_catalog.
      const compare = call('bg_pg_schema_check', shellQuote(p.migrations_table), shellQuote(p.migrations_column), ...pgEnvs.flatMap((e) => [shellQuote(e.name), ...pgConnWords(e.pg!)]));
      return {
        mutates: false,
        // Reads only pg_catalog: no table lock to wait for, so an idle transaction does not stop it.
        preflight: pgPreflight(host, pgEnvs, { locks: false }),
        run: [],
        verify: [{ cmd: compare, label: `same schema and migrations: ${pgEnvs.map((e) => e.name).join(', ')}` }],
        undoNote: 'read-only',
      };
    }
    const envs = dbEnvs(host, p.envs);
    if (anyMultiDb(envs)) {
      // Per database name (`dbs:`): blue.main with green.main, ...; a name only some envs have is a difference.
      const { shared, partial } = dbGroups(envs);
      return {
        mutates: false,
        preflight: [toolPresent('sqlite3'), ...envs.flatMap((e) => dbsOf(e).map((d) => databaseIntact(d.path)))],
        run: [],
        // One call that reports every name (bg_schema_check_dbs in src/remote/dbs.sh), not only the first that differs.
        verify: [
          {
            cmd: call(
              'bg_schema_check_dbs',
              shellQuote(p.migrations_table),
              shellQuote(p.migrations_column),
              ...partial.flatMap((g) => ['absent', shellQuote(g.name), shellQuote(g.has.join(', ')), shellQuote(g.lacks.join(', '))]),
              ...shared.flatMap((g) => [String(g.dbs.length), ...g.dbs.flatMap((d) => [shellQuote(d.label), quotePath(d.path)])]),
            ),
            label: [...shared.map((g) => `same schema and migrations: ${g.dbs.map((d) => d.label).join(', ')}`), ...partial.map((g) => `database ${g.name} in every env`)].join('; '),
          },
        ],
        undoNote: 'read-only',
      };
    }
    // bg_schema_check (src/remote/fingerprint.sh) compares the first env with each other one.
    const compare = call('bg_schema_check', shellQuote(p.migrations_table), shellQuote(p.migrations_column), ...envs.flatMap((e) => [shellQuote(e.name), quotePath(e.db)]));
    return {
      mutates: false,
      preflight: [toolPresent('sqlite3'), ...envs.map((e) => databaseIntact(e.db))],
      run: [],
      verify: [{ cmd: compare, label: `same schema and migrations: ${envs.map((e) => e.name).join(', ')}` }],
      undoNote: 'read-only',
    };
  },
};

/** The envs to compare when they are PostgreSQL ones (all of them, at least two), else undefined (SQLite, checked by dbEnvs). */
function postgresEnvs(host: ResolvedHost, names: string[] | undefined): ResolvedEnv[] | undefined {
  const all = Object.values(host.envs);
  const list = names ? names.map((n) => (Object.hasOwn(host.envs, n) ? host.envs[n]! : undefined)) : all.filter((e) => e.db !== undefined || e.pg !== undefined);
  if (!list.some((e) => e?.pg)) return undefined;
  list.forEach((e, i) => {
    const field = names ? ['with', 'envs', i] : ['env'];
    if (e && !e.pg) throw new PlanProblem(`env \`${e.name}\` is SQLite and another PostgreSQL: schema-check compares databases of one kind`, field);
  });
  if (list.some((e) => e === undefined)) return undefined; // dbEnvs names the unknown env
  if (list.length < 2) throw new PlanProblem(`this action compares databases: host \`${host.name}\` has only one env with a \`db\``, ['with', 'envs']);
  return list as ResolvedEnv[];
}
