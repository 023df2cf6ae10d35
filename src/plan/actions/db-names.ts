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
 * The envs' databases by name, in order of first appearance (the first env's order first):
 * `shared` has the names every env has; `partial` those only some have (reported as a difference).
 */
export function dbGroups(envs: readonly DbEnv[]): { shared: DbGroup[]; partial: Array<{ name: string; has: string[]; lacks: string[] }> } {
  const names: string[] = [];
  for (const e of envs) for (const d of dbsOf(e)) if (!names.includes(d.name)) names.push(d.name);
  const shared: DbGroup[] = [];
  const partial: Array<{ name: string; has: string[]; lacks: string[] }> = [];
  for (const name of names) {
    const dbs = envs.flatMap((env) => dbsOf(env).filter((d) => d.name === name).map((d) => ({ env, label: `${env.name}.${name}`, path: d.path })));
    if (dbs.length === envs.length) shared.push({ name, dbs });
    else partial.push({ name, has: dbs.map((d) => d.env.name), lacks: envs.filter((e) => !dbs.some((d) => d.env === e)).map((e) => e.name) });
  }
  return { shared, partial };
}
