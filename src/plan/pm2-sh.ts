// Names of the library functions about processes (src/remote/pm2.sh, proc.sh): pm2 apps (through `pm2 jlist`, parsed with the host's node)
// and which processes have a file open (through /proc/PID/fd, compared by inode, so a file that
// was renamed or replaced after it was opened is still found).
import { PlanProblem } from './action.js';
import { shellQuote } from './quote.js';
import { call } from './sh-lib.js';
import type { Command } from './types.js';

/**
 * Why pm2 would not read APP as the name of one app, or undefined. pm2 7 has no safe way to pass
 * such a name: `pm2 restart -- NAME` restarts nothing and exits 0, `pm2 start -- NAME` looks for
 * an ecosystem file; `all`, a number, a file name or /regex/ select other processes.
 */
export function pm2NameProblem(app: string): string | undefined {
  if (app.startsWith('-')) return 'starts with `-`: pm2 would read it as an option';
  if (app === 'all') return '`all` means every app to pm2';
  if (/^[0-9]+$/.test(app)) return 'only digits: pm2 would read it as a process id';
  if (/\.(c|m)?js$|\.json$|\.ya?ml$/i.test(app)) return 'ends like a file name: pm2 would read it as a script or ecosystem file';
  if (app.length > 1 && app.startsWith('/') && app.endsWith('/')) return 'pm2 would read /…/ as a regular expression';
  if (/[\u0000-\u001f\u007f]/.test(app)) return 'holds a control character';
  return undefined;
}

/** APP if pm2 can take it as one app's name; otherwise a plan-time problem at `field`. */
export function pm2App(app: string, field: Array<string | number>, origin: string): string {
  const problem = pm2NameProblem(app);
  if (problem) throw new PlanProblem(`pm2 app name ${JSON.stringify(app)} (${origin}) ${problem}; bg refuses it`, field);
  return app;
}

/** Pre-flight: pm2 knows APP (bg starts, stops and restarts apps; it never creates them). */
export function pm2AppKnown(app: string): Command {
  return { cmd: call('bg_pm2_known', shellQuote(app)), label: `pm2 knows the app ${app}` };
}
