// The envs of a step as arguments of the remote library's bg_envs (src/remote/envs.sh): NAME DB APP
// per env, each a quoted word, so that the host's db_of and app_of find them without a function
// body in the step's command.
import type { DbEnv } from './actions/db-common.js';
import { quotePath, shellQuote } from './quote.js';

export function envArgs(envs: readonly DbEnv[]): string[] {
  return envs.flatMap((e) => [shellQuote(e.name), quotePath(e.db), shellQuote(e.app ?? '')]);
}
