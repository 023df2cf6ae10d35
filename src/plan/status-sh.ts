// The read-only script behind `bg status`: one `key=value` line per fact about one env.
import type { ResolvedEnv } from './host-model.js';
import { quotePath, shellQuote } from './quote.js';

export function envStatusScript(env: ResolvedEnv, commandPrefix: string): string {
  const lines = [
    `dir=${quotePath(env.dir)}`,
    `[ -d "$dir" ] && echo "dir=ok" || echo "dir=missing"`,
    // A color that bg release manages: the release its current link points at (release.sh).
    `bg_release_status "$dir"`,
  ];
  if (env.db)
    lines.push(
      `db=${quotePath(env.db)}`,
      `v=$(command -v sqlite3) && echo "sqlite3=$(sqlite3 --version </dev/null 2>&1 | head -n 1 | cut -d ' ' -f 1) ($v)" || echo "sqlite3=not found"`,
      `if [ -L "$db" ]; then echo "link=$(readlink "$db")"; fi`,
      `if [ -f "$db" ]; then echo "real=$(readlink -f "$db")"; echo "size=$(wc -c < "$db" | tr -d ' ')"; s=$(bg_schema "$db" 2>&1) && { echo "fingerprint=sha256:$(printf '%s\\n' "$s" | sha256sum | cut -c1-16)"; echo "migrations=$(printf '%s\\n' "$s" | grep -c '^migration ')"; } || echo "fingerprint_error=$(printf '%s' "$s" | tail -n 1)"; else echo "db=missing"; fi`,
    );
  if (env.app) lines.push(`p=$(bg_pm2_procs ${shellQuote(env.app)} 2>&1) && { [ -z "$p" ] || printf '%s\\n' "$p" | sed 's/^/pm2=/'; } || echo "pm2_error=$(printf '%s' "$p" | tail -n 1)"`);
  if (env.health) lines.push(`echo "health=$(curl -s -g --proto =http,https -o /dev/null --max-time 5 -w '%{http_code}' --url ${shellQuote(env.health)})"`);
  return commandPrefix + lines.join('\n');
}
