import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { BgError, ExitCode, formatInternalError } from '../errors.js';
import { boundedNumber, hostList, lastBoolean, lockWaitOption, planOptions, playbookArg, single } from './options.js';
import { earlyOutputFlags } from './options.js';
import { inGithubActions, isCi } from './output.js';
import { installGithubGuard, multiLine } from './sanitize.js';
import { packageVersion } from './package-info.js';

const EXIT_CODES = `Exit codes:
  0  done
  1  a step failed and the run was rolled back
  2  bad input (usage, inventory, playbook, template)
  3  the host is locked by another run
  4  a step failed and the rollback did not complete (a person must look)
  5  the host could not be reached or authenticated (nothing was changed)
  70 internal error: a bug in bg (BG_DEBUG=1 shows the stack)`;

/** --host and --accept-new-host-key, for the commands that connect without a playbook. */
function hostOptions<T>(y: Argv<T>, describe = 'Host(s) or group(s) from the inventory, comma-separated') {
  return y
    .option('host', { alias: 'H', type: 'string', demandOption: true, describe, coerce: hostList('host') })
    .option('accept-new-host-key', { type: 'boolean', coerce: lastBoolean, describe: 'Trust and record the key of a host not yet in known_hosts (a changed key is always refused)' });
}

// Command modules load lazily so that `bg --version` and `--help` start fast (see bench/README.md).

/** Parse argv, run the command, and turn every outcome into a documented exit code. */
export async function main(argv = hideBin(process.argv)): Promise<number> {
  // Output flags are read before parsing: colours are decided before listr2 loads them.
  const flags = earlyOutputFlags(argv);
  if (flags.color === false) {
    process.env.NO_COLOR = '1';
    delete process.env.FORCE_COLOR;
  } else if (flags.color === true) {
    process.env.FORCE_COLOR = '1';
    delete process.env.NO_COLOR;
  }
  // Logs get plain text: no colour codes in CI unless asked for (before listr2 loads its colours).
  if (isCi(flags) && !('FORCE_COLOR' in process.env)) process.env.NO_COLOR = '1';
  // A closed pipe (`bg run ... | head`) must not kill a run halfway and leave its lock behind.
  for (const stream of [process.stdout, process.stderr])
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e;
    });
  // In GitHub Actions no line of bg's output becomes a workflow command unless bg issues it (sanitize.ts).
  if (inGithubActions(flags)) installGithubGuard();
  let code: number = ExitCode.ok;
  const cli = yargs(argv)
    .scriptName('bg')
    .usage('bg — verified, reversible blue-green steps for pm2 apps with SQLite\n\nUsage: $0 <command> [options]')
    .option('inventory', { alias: 'i', type: 'string', global: true, coerce: single('inventory'), describe: 'Inventory file (default: $BG_INVENTORY, ./hosts.yaml, else the built-in `local` host)' })
    // Output flags: every command takes them, so CI can pass the same ones to all (action.yml does).
    .option('ci', { type: 'boolean', global: true, coerce: lastBoolean, describe: 'Plain log output, no colours; in GitHub Actions, groups and annotations (automatic when CI=true or stdout is not a TTY)' })
    .option('json', { type: 'boolean', global: true, coerce: lastBoolean, describe: 'Machine-readable output: one JSON document (or one event per line for run and rollback) on stdout' })
    .option('color', { type: 'boolean', global: true, coerce: lastBoolean, describe: '--no-color: no colour codes (as NO_COLOR=1); --color: colours even in CI' })
    .command(
      'run [playbook]',
      'Run a playbook on one or more hosts',
      (y) =>
        planOptions(y)
          .option('dry-run', { alias: 'n', type: 'boolean', coerce: lastBoolean, describe: 'Print every command that would run; change nothing' })
          .option('ci', { type: 'boolean', coerce: lastBoolean, describe: 'Plain log output (automatic when CI=true or stdout is not a TTY)' })
          .option('rollback', { type: 'boolean', default: true, coerce: lastBoolean, describe: 'Undo completed steps when a step fails (--no-rollback leaves the host as it is)' })
          .option('lock-wait', { ...lockWaitOption, describe: 'Wait up to SECONDS (at most 86400) for another run to release the host lock (default: exit 3 at once)' })
          .option('serial', { type: 'number', coerce: boundedNumber('serial', { min: 1, max: 10_000, integer: true }), describe: 'Run N hosts at a time; each batch finishes before the next starts' })
          .example('$0 run phase1 --host prod --dry-run', 'preview every command')
          .example('$0 run phase2 --host prod', 'run it'),
      async (a) => {
        code = await (await import('./commands/run.js')).runCommand(playbookArg(a) as never);
      },
    )
    .command(
      'plan [playbook]',
      'Show the plan for a playbook (same as run --dry-run)',
      (y) =>
        planOptions(y)
          .option('show-library', { type: 'boolean', coerce: lastBoolean, describe: 'Also print the remote library functions the plan calls, once each' })
          .option('verbose', { type: 'boolean', coerce: lastBoolean, describe: 'Same as --show-library' })
          .example('$0 plan phase1 --host prod --json', 'the plan as JSON'),
      async (a) => {
        code = await (await import('./commands/plan.js')).printPlans(playbookArg(a) as never);
      },
    )
    .command(
      'validate [files..]',
      'Check the inventory and playbooks; every problem with file:line:column',
      (y) => y.positional('files', { type: 'string', array: true, describe: 'Files to check (default: the inventory and every playbook)' }),
      async (a) => {
        // Files after `--` (a name starting with '-') land in `_`: they are files too.
        const files = [...((a.files as string[] | undefined) ?? []), ...a._.slice(1).map(String)];
        code = (await import('./commands/validate.js')).validateCommand({ ...a, files } as never);
      },
    )
    .command(
      'lint [paths..]',
      'Flag migrations that would break the version still running (expand/contract)',
      (y) =>
        y
          .positional('paths', { type: 'string', array: true, describe: 'Migration files or directories (their *.sql, in order)' })
          .option('dialect', { choices: ['sqlite', 'postgres'] as const, default: 'sqlite' as const, describe: 'SQL dialect' })
          .option('json', { type: 'boolean', describe: 'The report as one JSON document' })
          .option('schema', {
            type: 'string',
            describe: 'SQL file with the schema the migrations start from (e.g. `sqlite3 DB .schema > schema.sql`); default: an empty one',
          })
          .example('$0 lint migrations/', 'every *.sql below migrations/, in migration order, each from the schema the earlier ones built')
          .example('$0 lint migrations/042_x.sql --schema prod-schema.sql', 'one migration, against the schema production has'),
      async (a) => {
        // Paths after `--` land in `_`; none at all is bad input, said by bg lint (exit 2).
        const paths = [...((a.paths as string[] | undefined) ?? []), ...a._.slice(1).map(String)];
        code = await (await import('../lint/command.js')).lintCommand({ ...a, paths } as never);
      },
    )
    .command(
      'rollback',
      'Undo a run (default: the last) from its journal on the host, newest step first',
      (y) =>
        hostOptions(y, 'The host (one)')
          .option('run', { type: 'string', coerce: single('run'), describe: 'Run id to undo (default: the last run; bg history lists them)' })
          .option('dry-run', { alias: 'n', type: 'boolean', coerce: lastBoolean, describe: 'Show what would be undone, with the commands, and what it would discard; change nothing' })
          .option('force', { type: 'boolean', coerce: lastBoolean, describe: 'Undo even though later runs built on this one' })
          .option('accept-data-loss', { type: 'boolean', coerce: lastBoolean, describe: 'Go ahead although restoring a backup discards data written after it' })
          .option('restore-db', { type: 'boolean', coerce: lastBoolean, describe: "Of a release: also undo its database changes (restore the backup taken before its migrations)" })
          .option('lock-wait', { ...lockWaitOption, describe: 'Wait up to SECONDS (at most 86400) for the host lock' })
          .option('ci', { type: 'boolean', describe: 'Plain log output' })
          .option('json', { type: 'boolean', describe: 'One JSON event per line' })
          .option('var', { type: 'string', array: true, describe: 'A secret the run was given with --var: --var NAME=value (other secrets come from your inventory and playbook)' })
          .example('$0 rollback --host prod --dry-run', 'what undoing the last run would do'),
      async (a) => {
        code = await (await import('./commands/rollback.js')).rollbackCommand(a as never);
      },
    )
    .command(
      'status',
      'Envs, pm2 state, database paths and symlinks, schema fingerprints, health, lock',
      (y) =>
        hostOptions(y).option('json', { type: 'boolean', describe: 'JSON output' }),
      async (a) => {
        code = await (await import('./commands/status.js')).statusCommand(a as never);
      },
    )
    .command(
      'history',
      'Runs recorded on the host(s): outcome, duration, who',
      (y) =>
        hostOptions(y)
          .option('limit', { type: 'number', default: 20, coerce: boundedNumber('limit', { min: 1, max: 1_000_000, integer: true }), describe: 'How many recent runs per host' })
          .option('json', { type: 'boolean', describe: 'JSON output' }),
      async (a) => {
        code = await (await import('./commands/history.js')).historyCommand(a as never);
      },
    )
    .command(
      'unlock',
      'Remove a lock left by a run that is gone',
      (y) =>
        hostOptions(y).option('force', { type: 'boolean', coerce: lastBoolean, describe: 'Remove the lock even if its run may still be going' }),
      async (a) => {
        code = await (await import('./commands/unlock.js')).unlockCommand(a as never);
      },
    )
    // Day-to-day commands (read-only but restore): src/cli/commands/{logs,backups,restore,doctor}.ts
    .command(
      'logs',
      "The envs' pm2 logs (app output escaped for the terminal); --follow until Ctrl-C",
      (y) =>
        hostOptions(y)
          .option('env', { alias: 'e', type: 'string', array: true, describe: 'Only these envs (repeatable or comma-separated; default: every env with an app)', coerce: (v: unknown) => (Array.isArray(v) ? v : [v]).flatMap((x) => String(x ?? '').split(',')).map((s) => s.trim()).filter(Boolean) })
          .option('lines', { alias: 'n', type: 'number', default: 15, coerce: boundedNumber('lines', { min: 0, max: 100_000, integer: true }), describe: 'How many recent lines of each log file' })
          .option('follow', { alias: 'f', type: 'boolean', coerce: lastBoolean, describe: 'Keep printing new lines (read every second) until Ctrl-C, then exit 0' })
          .option('json', { type: 'boolean', coerce: lastBoolean, describe: 'One JSON object per line: {host, env, stream, line}' })
          .example('$0 logs --host prod --env green --lines 50', "GREEN's last 50 lines (stdout, then stderr)")
          .example('$0 logs --host prod --follow', 'both envs, each line prefixed with its env, until Ctrl-C'),
      async (a) => {
        code = await (await import('./commands/logs.js')).logsCommand(a as never);
      },
    )
    .command(
      'backups',
      'Backups on the host(s): env, run id, size, age, rows, integrity as last verified',
      (y) =>
        hostOptions(y)
          .option('json', { type: 'boolean', coerce: lastBoolean, describe: 'JSON output' })
          .option('copy-to', { type: 'string', coerce: single('copy-to'), describe: "Look for copies under DIR/HOST/ (default: the host's backups.copy_to)" })
          .example('$0 backups --host prod', 'newest first; the RUN column is what bg restore --backup takes')
          .example('$0 backups --host prod --copy-to ./artifact', 'also the copies in a downloaded CI artifact'),
      async (a) => {
        code = await (await import('./commands/backups.js')).backupsCommand(a as never);
      },
    )
    .command(
      'restore',
      "Put a backup in place of an env's database: verified, journaled, undone by bg rollback",
      (y) =>
        hostOptions(y)
          .option('env', { alias: 'e', type: 'string', demandOption: true, coerce: single('env'), describe: 'The env whose database is restored' })
          .option('backup', { type: 'string', coerce: single('backup'), describe: 'Run id or file name, as bg backups lists them' })
          .option('db', { type: 'string', coerce: single('db'), describe: 'With several databases per env (dbs:): restore only this one (default: every database that run backed up)' })
          .option('from-local', { type: 'string', coerce: single('from-local'), describe: "Or a copy on this machine (backups' copy_to: DIR/HOST/ENV-RUNID.db, or .pgdump): checked against its .sha256, sent to the host's backups dir, then restored" })
          .option('dry-run', { alias: 'n', type: 'boolean', coerce: lastBoolean, describe: 'Print the plan and what restoring would discard; change nothing' })
          .option('accept-data-loss', { type: 'boolean', coerce: lastBoolean, describe: 'Restore although the database holds rows the backup lacks (kept aside, and bg rollback puts them back)' })
          .option('lock-wait', { ...lockWaitOption, describe: 'Wait up to SECONDS (at most 86400) for another run to release the host lock' })
          .option('ci', { type: 'boolean', coerce: lastBoolean, describe: 'Plain log output' })
          .option('json', { type: 'boolean', coerce: lastBoolean, describe: 'One JSON event per line' })
          .example('$0 restore --host prod --env blue --backup 20261121T122255.123Z-3fa1 --dry-run', 'the plan, and the rows it would discard')
          .example('$0 restore --host prod --env blue --backup blue-20261121T122255.123Z-3fa1.db --accept-data-loss', 'restore; undo with bg rollback --host prod')
          .example('$0 restore --host prod --env blue --from-local bg-copies/prod/blue-20261121T122255.123Z-3fa1.db', 'restore a copy kept on this machine'),
      async (a) => {
        code = await (await import('./commands/restore.js')).restoreCommand(a as never);
      },
    )
    .command(
      'release',
      'Release a version to the idle color (bg run release): code, dependencies, current link, migrations, gate, switch, watch',
      (y) =>
        hostOptions(y)
          .option('ref', { type: 'string', coerce: single('ref'), describe: 'A git ref the host fetches from release.repo (tag, branch, commit)' })
          .option('source', { type: 'string', coerce: single('source'), describe: 'Or a directory or tarball on this machine, streamed to the host' })
          .option('watch', { type: 'string', coerce: single('watch'), describe: 'After the switch, watch the live 5xx rate this long (e.g. 60s); switch back above --max-error-rate' })
          .option('max-error-rate', { type: 'number', coerce: boundedNumber('max-error-rate', { min: 0, max: 100 }), describe: 'Percent of 5xx responses above which the watch switches back (default 5)' })
          .option('allow-breaking', { type: 'boolean', coerce: lastBoolean, describe: 'Run migrations that bg lint finds breaking for the version still running' })
          .option('dry-run', { alias: 'n', type: 'boolean', coerce: lastBoolean, describe: 'Print the plan; change nothing' })
          .option('rollback', { type: 'boolean', default: true, coerce: lastBoolean, describe: 'Undo completed steps when a step fails' })
          .option('serial', { type: 'number', coerce: boundedNumber('serial', { min: 1, max: 10_000, integer: true }), describe: 'Release N hosts at a time' })
          .option('lock-wait', { ...lockWaitOption, describe: 'Wait up to SECONDS (at most 86400) for another run to release the host lock' })
          .option('ci', { type: 'boolean', coerce: lastBoolean, describe: 'Plain log output' })
          .option('json', { type: 'boolean', coerce: lastBoolean, describe: 'One JSON event per line' })
          .example('$0 release --host prod --ref v1.4.0', 'release the tag to the idle color, switch, keep the old color warm')
          .example('$0 release --host prod --source ./build.tgz --watch 60s', 'a tarball built here; switch back by itself on 5xx'),
      async (a) => {
        code = await (await import('./commands/release.js')).releaseCommand(a as never);
      },
    )
    .command(
      'switch',
      'Move live traffic to a color through the proxy: gated on it, verified, undone by bg rollback',
      (y) =>
        hostOptions(y)
          .option('to', { type: 'string', demandOption: true, coerce: single('to'), describe: 'The color to make live (an env named in proxy.colors)' })
          .option('dry-run', { alias: 'n', type: 'boolean', coerce: lastBoolean, describe: 'Print the plan; change nothing' })
          .option('lock-wait', { ...lockWaitOption, describe: 'Wait up to SECONDS (at most 86400) for another run to release the host lock' })
          .option('ci', { type: 'boolean', coerce: lastBoolean, describe: 'Plain log output' })
          .option('json', { type: 'boolean', coerce: lastBoolean, describe: 'One JSON event per line' })
          .example('$0 switch --host prod --to green', 'GREEN gated (health, pm2 stable), then live; bg rollback --host prod switches back'),
      async (a) => {
        code = await (await import('./commands/switch.js')).switchCommand(a as never);
      },
    )
    .command(
      'doctor',
      'Every pre-flight check of every built-in playbook, plus reachability and the lock (read-only)',
      (y) =>
        hostOptions(y)
          .option('json', { type: 'boolean', coerce: lastBoolean, describe: 'JSON output' })
          .example('$0 doctor --host prod', 'exit 0 when every check passes, 1 when one fails'),
      async (a) => {
        code = await (await import('./commands/doctor.js')).doctorCommand(a as never);
      },
    )
    .command(
      'init [dir]',
      'Write hosts.yaml and playbooks/ for a new project (never over existing files)',
      (y) => y.positional('dir', { type: 'string', describe: 'Where (default: here)' }),
      async (a) => {
        code = (await import('./commands/init.js')).initCommand(a as never);
      },
    )
    .completion('completion', 'Print a shell completion script (bash/zsh): bg completion >> ~/.bashrc')
    .demandCommand(1, 'name a command (bg --help lists them)')
    .strict()
    .recommendCommands()
    .epilogue(`${EXIT_CODES}\n\nDocs: README.md in the package (npm docs bg-deploy)`)
    .version(packageVersion())
    .alias('h', 'help')
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((msg, err) => {
      if (err instanceof BgError) throw err;
      // yargs re-throws what a coerce function throws (our usage checks) as a YError with its message.
      if (err?.name === 'YError') throw new BgError(`${err.message}\nRun bg --help for usage.`, ExitCode.badInput);
      if (err) throw err;
      throw new BgError(`${msg}\nRun bg --help for usage.`, ExitCode.badInput);
    });
  try {
    await cli.parseAsync();
  } catch (e) {
    if (e instanceof BgError) {
      // Messages quote user values and host output: control characters are shown, not obeyed.
      process.stderr.write(`bg: ${multiLine(e.message)}\n`);
      return e.exitCode;
    }
    process.stderr.write(formatInternalError(e));
    return ExitCode.internal;
  }
  return code;
}
