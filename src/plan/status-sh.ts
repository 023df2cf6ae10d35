// The read-only call behind `bg status`: one `key=value` line per fact about one env
// (bg_env_status in src/remote/status.sh).
import type { ResolvedEnv } from './host-model.js';
import { quotePath, shellQuote } from './quote.js';
import { call } from './sh-lib.js';
import { dbsOf } from './host-model.js';
import { pgConnWords, pgLabel } from './actions/pg-common.js';

/** The host's environment (`commandPrefix`), then the call; an empty word is a database, app or health URL the env has not. */
export function envStatusCommand(env: ResolvedEnv, commandPrefix: string): string {
  const main = call('bg_env_status', quotePath(env.dir), env.db === undefined ? "''" : quotePath(env.db), shellQuote(env.app ?? ''), shellQuote(env.health ?? ''));
  // Several databases (`dbs:`): a `dbs=` line for each of the others (bg_dbs_status in src/remote/dbs.sh).
  const others = dbsOf(env).slice(1);
  // A PostgreSQL database: pg, pg_size, fingerprint (bg_pg_status in src/remote/pg-checks.sh); its password is a secret sent on stdin.
  const pg = env.pg ? `; ${call('bg_pg_status', shellQuote(pgLabel(env.pg)), ...pgConnWords(env.pg))}` : '';
  return commandPrefix + (others.length ? `${main}; ${call('bg_dbs_status', ...others.flatMap((d) => [shellQuote(d.name), quotePath(d.path)]))}` : main) + pg;
}
