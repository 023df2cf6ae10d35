import { withSecrets } from '../../transport/secrets.js';
import { ExitCode, formatProblem } from '../../errors.js';
import { readLock } from '../../run/lock.js';
import { describeFailedChecks, isUnreachable, runPreflight } from '../../run/preflight.js';
import { describeHolder } from '../../run/run-meta.js';
import { closeAll, connectAll } from '../connect.js';
import { planFromArgs, type PlanArgs, type Planned } from '../context.js';
import { formatPlan } from '../print-plan.js';
import { readLiveColors } from '../live.js';
import { multiLine, oneLine } from '../sanitize.js';
import { library } from '../../remote/library.js';

export interface PrintArgs extends PlanArgs {
  json?: boolean;
  /** Also connect and run the read-only pre-flight checks. */
  check?: boolean;
  acceptNewHostKey?: boolean;
  allowBreaking?: boolean;
  /** Print the library functions the plan calls (also under --verbose). */
  showLibrary?: boolean;
  verbose?: boolean;
}

/**
 * Print plans (text, or JSON with --json); touches no host, unless --check connects to run the
 * read-only pre-flight checks. Shared by `bg plan` and `bg run --dry-run`.
 */
export async function printPlans(args: PrintArgs, write = (s: string) => process.stdout.write(s)): Promise<number> {
  const { plans, warnings } = planFromArgs(args, undefined, await readLiveColors(args));
  for (const w of warnings) process.stderr.write(`bg: warning: ${formatProblem(w)}\n`);
  // --json keeps every exact command, and names the library (sha256) they call.
  const withLib = (p: Planned['plans'][number]['plan']) => ({ ...p, library: { hash: library().hash } });
  if (args.json && !args.check) write(JSON.stringify(plans.map((p) => withLib(p.plan)), null, 2) + '\n');
  else if (!args.json) write(plans.map((p) => formatPlan(p.plan, { showLibrary: args.showLibrary || args.verbose })).join('\n'));
  if (!args.check) return ExitCode.ok;
  return checkHosts(plans, args, write);
}

/** `--check`: every host reachable, its lock free, and every pre-flight check passing. */
async function checkHosts(plans: Planned['plans'], args: PrintArgs, write: (s: string) => void): Promise<number> {
  const transports = await connectAll(plans.map((p) => ({ name: p.plan.host.name, config: p.config })), { acceptNewHostKey: args.acceptNewHostKey });
  let code: number = ExitCode.ok;
  const report: unknown[] = [];
  try {
    for (const { plan, config, secrets } of plans) {
      // The plan's secrets (a PostgreSQL password) reach its checks on stdin, as in a run.
      const transport = withSecrets(transports.get(plan.host.name)!, secrets);
      const lock = await readLock(transport, config.journal);
      const results = await runPreflight(plan, transport, { allowBreaking: args.allowBreaking });
      const failed = describeFailedChecks(plan.host.name, results);
      if (results.some(isUnreachable)) code = ExitCode.unreachable;
      else if ((failed || lock) && code === ExitCode.ok) code = ExitCode.stepFailed;
      report.push({ host: plan.host.name, lock: lock ?? null, checks: results.map((r) => ({ label: r.check.label, ok: r.ok, output: (r.result.stdout || r.result.stderr).trim() })) });
      if (args.json) continue;
      write(`\nPre-flight on ${plan.host.name} (${plan.host.target}):\n  ✔ reachable\n`);
      // Lock holder, labels and output come from the host or the playbook: escaped for the terminal.
      write(lock ? `  ✖ locked by ${oneLine(describeHolder(lock))}\n` : '  ✔ not locked\n');
      for (const r of results) write(`  ${r.ok ? '✔' : '✖'} ${oneLine(r.check.label ?? r.check.cmd)}${r.ok && r.result.stdout.trim() ? ` (${oneLine(r.result.stdout.trim().split('\n').pop())})` : ''}\n`);
      if (failed) process.stderr.write(`bg: ${multiLine(failed)}\n`);
    }
  } finally {
    await closeAll(transports);
  }
  if (args.json) write(JSON.stringify({ plans: plans.map((p) => ({ ...p.plan, library: { hash: library().hash } })), checks: report }, null, 2) + '\n');
  return code;
}

