// What schema-check, db-inspect and share-db share: which envs' databases they look at.
import { z } from 'zod';
import { PlanProblem } from '../action.js';
import type { ResolvedEnv, ResolvedHost } from '../host-model.js';

/** `with.envs`, `with.migrations_table`, `with.migrations_column`: common parameters. */
export const dbParams = {
  /** The envs whose databases are compared; default: every env of the host with a `db`. */
  envs: z.array(z.string().min(1)).min(2, 'name at least two envs').optional(),
  /** The table where the app records applied migrations, and its name column. */
  migrations_table: z.string().min(1).default('migrations'),
  migrations_column: z.string().min(1).default('name'),
};

export type DbEnv = ResolvedEnv & { db: string };

/** The envs named by `with.envs` (default: all with a db), each with a db; at least two. */
export function dbEnvs(host: ResolvedHost, names: string[] | undefined, need: Array<keyof ResolvedEnv> = []): DbEnv[] {
  const list = names ?? Object.values(host.envs).filter((e) => e.db !== undefined).map((e) => e.name);
  const envs: DbEnv[] = [];
  list.forEach((name, i) => {
    const env = Object.hasOwn(host.envs, name) ? host.envs[name] : undefined; // own keys only: `constructor` is no env
    const field = names ? ['with', 'envs', i] : ['env'];
    if (!env) throw new PlanProblem(`unknown env \`${name}\` (host has: ${Object.keys(host.envs).join(', ') || 'no envs'})`, field);
    for (const f of ['db', ...need] as Array<keyof ResolvedEnv>)
      if (env[f] === undefined) throw new PlanProblem(`env \`${name}\` has no \`${f}\` in the inventory`, field);
    envs.push(env as DbEnv);
  });
  if (new Set(envs.map((e) => e.name)).size !== envs.length) throw new PlanProblem('an env is named twice', ['with', 'envs']);
  if (envs.length < 2) throw new PlanProblem(`this action compares databases: host \`${host.name}\` has ${envs.length === 1 ? 'only one env' : 'no env'} with a \`db\``, ['with', 'envs']);
  const paths = new Set(envs.map((e) => e.db));
  if (paths.size !== envs.length) throw new PlanProblem('two envs have the same `db` path', ['with', 'envs']);
  return envs;
}

