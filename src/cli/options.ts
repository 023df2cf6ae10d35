import type { Argv } from 'yargs';

/** Options shared by `bg run` and `bg plan`. */
export function planOptions<T>(y: Argv<T>) {
  return y
    .positional('playbook', { type: 'string', demandOption: true, describe: 'Playbook name (./playbooks/NAME.yaml or built-in) or path' })
    .option('host', { alias: 'H', type: 'string', demandOption: true, describe: 'Host(s) or group(s) from the inventory, comma-separated' })
    .option('var', { type: 'string', array: true, describe: 'Set a playbook variable: --var NAME=value (repeatable)' })
    .option('json', { type: 'boolean', describe: 'JSON: the plan (plan, --dry-run: an array, one plan per host), or one event per line (run)' })
    .option('check', { type: 'boolean', describe: 'With plan or --dry-run: connect and run the read-only pre-flight checks (reachable, lock free, tools, databases, disk); exit 1 if one fails' })
    .option('allow-breaking', { type: 'boolean', describe: 'Run migrations that bg lint finds breaking for the version still running (they are still reported)' })
    .option('accept-new-host-key', { type: 'boolean', describe: 'Trust and record the key of a host not yet in known_hosts (a changed key is always refused)' });
}
