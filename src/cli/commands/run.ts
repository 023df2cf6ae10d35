import { color } from 'listr2';
import { ExitCode } from '../../errors.js';
import { executeRuns, type HostOutcome } from '../../run/executor.js';
import { closeAll, connectAll } from '../connect.js';
import { planFromArgs } from '../context.js';
import { chooseRenderer, eventSink } from '../output.js';
import { printPlans, type PrintArgs } from './plan.js';

export interface RunArgs extends PrintArgs {
  dryRun?: boolean;
  ci?: boolean;
  rollback?: boolean;
  serial?: number;
  acceptNewHostKey?: boolean;
}

/** `bg run`: plan, connect to every host, execute, report. Returns the exit code. */
export async function runCommand(args: RunArgs): Promise<number> {
  if (args.dryRun) return printPlans(args);
  const { plans } = planFromArgs(args);
  const transports = await connectAll(
    plans.map((p) => ({ name: p.plan.host.name, config: p.config })),
    { acceptNewHostKey: args.acceptNewHostKey },
  );
  const aborter = new AbortController();
  const onSigint = () => {
    if (aborter.signal.aborted) process.exit(130);
    process.stderr.write('\nbg: interrupted; stopping the running step and rolling back (Ctrl-C again to quit at once)\n');
    aborter.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    const outcomes = await executeRuns(
      plans.map((p) => ({ plan: p.plan, transport: transports.get(p.plan.host.name)! })),
      {
        renderer: chooseRenderer(args),
        emit: eventSink(args),
        noRollback: args.rollback === false,
        batchSize: args.serial,
        signal: aborter.signal,
      },
    );
    report(outcomes, args);
    return worst(outcomes);
  } finally {
    process.off('SIGINT', onSigint);
    await closeAll(transports);
  }
}

/** 4 (a person must look) beats 1 (failed, rolled back) beats 0. */
function worst(outcomes: HostOutcome[]): number {
  const codes = outcomes.map((o) => o.exitCode);
  if (codes.includes(ExitCode.rollbackIncomplete)) return ExitCode.rollbackIncomplete;
  if (codes.includes(ExitCode.stepFailed)) return ExitCode.stepFailed;
  return ExitCode.ok;
}

function report(outcomes: HostOutcome[], args: RunArgs): void {
  const err = (s: string) => process.stderr.write(s + '\n');
  const out = (s: string) => (args.json ? err(s) : process.stdout.write(s + '\n'));
  for (const o of outcomes) {
    const secs = (o.durationMs / 1000).toFixed(1);
    switch (o.status) {
      case 'done':
        out(color.green(`✔ ${o.host}: ${o.stepsDone} steps done in ${secs}s (run ${o.runId})`));
        break;
      case 'not-started':
        out(color.yellow(`- ${o.host}: not started (an earlier batch failed)`));
        break;
      default:
        err(color.red(`✖ ${o.failure?.message ?? 'failed'}`));
        if (o.status === 'rolled-back') err(color.yellow(`↩ ${o.host}: rolled back; the host is as it was before run ${o.runId}`));
        if (o.status === 'failed-no-rollback')
          err(color.yellow(`${o.host}: left as it is (--no-rollback). To undo: bg rollback --host ${o.host} --run ${o.runId}`));
        if (o.status === 'rollback-incomplete') {
          err(color.red(`${o.host}: ROLLBACK INCOMPLETE — a person must look.`));
          if (o.undoFailure) err(o.undoFailure.message);
          err('Not undone, newest first:');
          for (const s of o.left) err(`  ${s.index}. ${s.name}`);
          err(`journal: ${o.host}:${o.runId}`);
        }
    }
  }
}
