// schema-check, drift and db-inspect with several databases per env (`dbs:`): the envs'
// databases grouped by name, so blue.main is compared with green.main, blue.userdata with green.userdata.
import type { DbEnv } from './db-common.js';
import { dbsOf } from '../host-model.js';

/** One database name and the envs that have it: `label` is ENV.NAME, as the reports show it. */
export interface DbGroup {
  name: string;
  dbs: Array<{ env: DbEnv; label: string; path: string }>;
}

/** Whether any of the envs has more than one database (else the one-database reports stay as they were). */
export function anyMultiDb(envs: readonly DbEnv[]): boolean {
  return envs.some((e) => dbsOf(e).length > 1);
}

/**
 * The envs' databases grouped for comparison: first the default databases (each env's first,
 * whatever its name: an env with `db:` alone has one named `db`), then every other name in order
 * of first appearance. `shared` has the groups every env has; `partial` the names only some have
 * (reported as a difference).
 */
export function dbGroups(envs: readonly DbEnv[]): { shared: DbGroup[]; partial: Array<{ name: string; has: string[]; lacks: string[] }> } {
  const defaults = envs.map((env) => ({ env, d: dbsOf(env)[0]! }));
  const defaultNames = [...new Set(defaults.map((x) => x.d.name))];
  const shared: DbGroup[] = [{ name: defaultNames.length === 1 ? defaultNames[0]! : 'default', dbs: defaults.map(({ env, d }) => ({ env, label: `${env.name}.${d.name}`, path: d.path })) }];
  const names: string[] = [];
  for (const e of envs) for (const d of dbsOf(e).slice(1)) if (!names.includes(d.name)) names.push(d.name);
  const partial: Array<{ name: string; has: string[]; lacks: string[] }> = [];
  for (const name of names) {
    const dbs = envs.flatMap((env) => dbsOf(env).slice(1).filter((d) => d.name === name).map((d) => ({ env, label: `${env.name}.${name}`, path: d.path })));
    if (dbs.length === envs.length) shared.push({ name, dbs });
    else partial.push({ name, has: dbs.map((d) => d.env.name), lacks: envs.filter((e) => !dbs.some((d) => d.env === e)).map((e) => e.name) });
  }
  return { shared, partial };
}
