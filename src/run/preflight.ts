import type { Command, Plan } from '../plan/types.js';
import type { CommandResult, Transport } from '../transport/transport.js';
import { lastLines } from './step-error.js';
import { runGate, type GateOptions } from './gates.js';

export interface CheckResult {
  check: Command;
  result: CommandResult;
  ok: boolean;
}

/** Run every pre-flight check and gate of a plan (read-only, concurrently: the transport caps channels). */
export async function runPreflight(plan: Plan, transport: Transport, gateOptions: GateOptions = {}): Promise<CheckResult[]> {
  const checks = plan.preflight.map(async (check) => {
    const result = await transport.exec(check.cmd, { timeoutMs: 120_000 });
    return { check, result, ok: result.exitCode === 0 };
  });
  const gates = (plan.gates ?? []).map(async (gate) => {
    const g = await runGate(gate, transport, gateOptions);
    const result = { exitCode: g.ok ? 0 : 1, stdout: g.ok ? g.report : '', stderr: g.ok ? '' : g.report, durationMs: 0 };
    return { check: { cmd: gate.cmd, label: gate.label }, result, ok: g.ok };
  });
  return Promise.all([...checks, ...gates]);
}

/** "pre-flight failed on H: ..." naming each failed check, or undefined when all passed. */
export function describeFailedChecks(host: string, results: CheckResult[]): string | undefined {
  const failed = results.filter((r) => !r.ok);
  if (failed.length === 0) return undefined;
  const lines = [`pre-flight failed on ${host} (${failed.length} of ${results.length} checks); nothing was changed:`];
  for (const f of failed) {
    lines.push(`  ✖ ${f.check.label ?? f.check.cmd.split('\n')[0]}`);
    const why = lastLines(f.result.stderr || f.result.stdout, 12);
    if (why) lines.push(...why.split('\n').map((l) => `      ${l}`));
  }
  return lines.join('\n');
}
