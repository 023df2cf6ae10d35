import type { Command, Plan } from '../plan/types.js';
import type { CommandResult, Transport } from '../transport/transport.js';
import { lastLines } from './step-error.js';
import { gateCommand, judgeGate, type GateOptions } from './gates.js';
import { runChecks } from './step-runner.js';

export interface CheckResult {
  check: Command;
  result: CommandResult;
  ok: boolean;
  /** A gate that let breaking findings through: its report is shown even though it passed. */
  letThrough?: true;
}

/** Bound of each pre-flight check (and of a gate's listing). */
const CHECK_TIMEOUT_MS = 120_000;

/**
 * Run every pre-flight check and gate of a plan: one round trip (the host runs them all, see
 * runChecks); the gates' listings come back with the checks and bg judges them here.
 */
export async function runPreflight(plan: Plan, transport: Transport, gateOptions: GateOptions = {}): Promise<CheckResult[]> {
  const p = preparePreflight(plan);
  return p.judge(await runChecks(transport, p.commands), gateOptions);
}

/** A plan's pre-flight as commands to run on the host, and the judgement of their results (checks by exit status, gates by bg). */
export function preparePreflight(plan: Plan): { commands: Command[]; judge(results: CommandResult[], gateOptions: GateOptions): Promise<CheckResult[]> } {
  const gates = (plan.gates ?? []).map((gate) => ({ gate, ...gateCommand(gate) }));
  const commands = [...plan.preflight.map((c) => ({ ...c, timeoutMs: CHECK_TIMEOUT_MS })), ...gates.map((g) => ({ cmd: g.cmd, label: g.gate.label, timeoutMs: CHECK_TIMEOUT_MS }))];
  return {
    commands,
    async judge(results, gateOptions) {
      const checks = plan.preflight.map((check, i) => ({ check, result: results[i]!, ok: results[i]!.exitCode === 0 }));
      const judged = await Promise.all(
        gates.map(async (g, i) => {
          const r = await judgeGate(g.gate, results[plan.preflight.length + i]!, gateOptions, g.boundary);
          const result = { exitCode: r.ok ? 0 : 1, stdout: r.ok ? r.report : '', stderr: r.ok ? '' : r.report, durationMs: 0 };
          return { check: { cmd: g.gate.cmd, label: g.gate.label }, result, ok: r.ok, ...(r.letThrough ? { letThrough: r.letThrough } : {}) };
        }),
      );
      return [...checks, ...judged];
    },
  };
}

/** A failed check that could not reach or authenticate to a service the run needs (its `unreachableExit`): the run exits 5. */
export function isUnreachable(r: CheckResult): boolean {
  return !r.ok && r.check.unreachableExit !== undefined && r.result.exitCode === r.check.unreachableExit;
}

/** "pre-flight failed on H: ..." naming each failed check, or undefined when all passed. */
export function describeFailedChecks(host: string, results: CheckResult[]): string | undefined {
  const failed = results.filter((r) => !r.ok);
  if (failed.length === 0) return undefined;
  const lines = [`pre-flight failed on ${host} (${failed.length} of ${results.length} checks); nothing was changed:`];
  const said = new Set<string>();
  for (const f of failed) {
    lines.push(`  ✖ ${f.check.label ?? f.check.cmd.split('\n')[0]}`);
    const why = lastLines(f.result.stderr || f.result.stdout, 12);
    // Checks of one database that could not connect all carry libpq's same reason: said once.
    if (why && said.has(why)) lines.push('      (the same reason as above)');
    else if (why) lines.push(...why.split('\n').map((l) => `      ${l}`));
    if (why) said.add(why);
  }
  return lines.join('\n');
}
