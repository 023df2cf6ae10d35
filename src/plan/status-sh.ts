// The read-only call behind `bg status`: one `key=value` line per fact about one env
// (bg_env_status in src/remote/status.sh).
import type { ResolvedEnv } from './host-model.js';
import { quotePath, shellQuote } from './quote.js';
import { call } from './sh-lib.js';

/** The host's environment (`commandPrefix`), then the call; an empty word is a database, app or health URL the env has not. */
export function envStatusCommand(env: ResolvedEnv, commandPrefix: string): string {
  return commandPrefix + call('bg_env_status', quotePath(env.dir), env.db === undefined ? "''" : quotePath(env.db), shellQuote(env.app ?? ''), shellQuote(env.health ?? ''));
}
