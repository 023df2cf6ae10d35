import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ExitCode, InputError } from '../../errors.js';
import { BUILTIN_PLAYBOOKS, loadPlaybook } from '../load.js';
import { resolveHost, type ResolvedHost } from '../../plan/host-model.js';
import { planRun } from '../../plan/planner.js';
import { needsProxy } from '../../plan/actions/proxy-common.js';
import { needsRelease } from '../../plan/actions/release-common.js';
import type { Command, Gate, Plan } from '../../plan/types.js';
import { readLock } from '../../run/lock.js';
import { runPreflight } from '../../run/preflight.js';
import { describeHolder } from '../../run/run-meta.js';
import { withHosts, withHostSecrets, type HostArgs } from '../host-session.js';
import { multiLine, oneLine } from '../sanitize.js';

export interface DoctorArgs extends HostArgs {
  json?: boolean;
}

/** Planned only to collect checks: never run, never journaled. */
const DOCTOR_RUN_ID = '19700101T000000.000Z-d0c7';

/**
 * Placeholders for variables a built-in playbook requires: doctor needs its checks, not its
 * values (no check depends on them).
 */
const PLACEHOLDERS: Record<string, Record<string, string>> = {
  env: { key: 'BG_DOCTOR', value: 'x' },
  switch: { to: 'green' },
  release: { ref: 'HEAD' },
};

interface Collected {
  checks: Map<string, { check: Command; playbooks: string[] }>;
  gates: Map<string, { gate: Gate; playbooks: string[] }>;
  notApplicable: Array<{ playbook: string; reason: string }>;
}

/** Every built-in playbook's pre-flight checks for this host, each once, with the playbooks needing it. */
export function collectChecks(host: ResolvedHost): Collected {
  const out: Collected = { checks: new Map(), gates: new Map(), notApplicable: [] };
  const files = readdirSync(BUILTIN_PLAYBOOKS).filter((f) => f.endsWith('.yaml')).sort();
  for (const f of files) {
    const name = f.replace(/\.yaml$/, '');
    const pb = loadPlaybook(join(BUILTIN_PLAYBOOKS, f));
    // The proxy's playbooks are for hosts with a proxy: nothing to say about them elsewhere.
    if (needsProxy(pb.value) && !host.proxy) continue;
    if (needsRelease(pb.value) && !host.release) continue;
    // The cutover runs once, before HAProxy runs: its checks fail on every host it was done on.
    if (name === 'cutover') continue;
    let plan: Plan;
    try {
      plan = planRun({ playbook: pb.value, source: pb.source, host, vars: Object.hasOwn(PLACEHOLDERS, name) ? PLACEHOLDERS[name]! : {}, runId: DOCTOR_RUN_ID, environment: process.env });
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      // Drop the location in bg's own file; keep what the host lacks.
      out.notApplicable.push({ playbook: name, reason: [...new Set(e.problems.map((p) => p.message.replace(/ \(host [^)]*\)$/, '')))].join('; ') });
      continue;
    }
    for (const c of plan.preflight) {
      const seen = out.checks.get(c.cmd);
      if (seen) seen.playbooks.push(name);
      else out.checks.set(c.cmd, { check: c, playbooks: [name] });
    }
    for (const g of plan.gates) {
      const seen = out.gates.get(g.cmd);
      if (seen) seen.playbooks.push(name);
      else out.gates.set(g.cmd, { gate: g, playbooks: [name] });
    }
  }
  return out;
}

/** `bg doctor`: reachability, the lock, and every pre-flight check of every built-in playbook that applies. Read-only. */
export async function doctorCommand(args: DoctorArgs, write = (s: string) => process.stdout.write(s)): Promise<number> {
  let code: number = ExitCode.ok;
  const report: unknown[] = [];
  await withHosts(args, async (hosts) => {
    for (const { name, config, transport } of hosts) {
      const host = resolveHost(name, config);
      const found = collectChecks(host);
      const plan = { preflight: [...found.checks.values()].map((c) => c.check), gates: [...found.gates.values()].map((g) => g.gate) } as Plan;
      // A check that needs the host's secret vars (a PostgreSQL password) gets them on stdin, as in a run.
      const [lock, results] = await Promise.all([readLock(transport, config.journal), runPreflight(plan, withHostSecrets({ name, config, transport }))]);
      const needs = (cmd: string) => found.checks.get(cmd)?.playbooks ?? found.gates.get(cmd)?.playbooks ?? [];
      const checks = results.map((r) => ({ label: r.check.label ?? r.check.cmd.split('\n')[0]!, ok: r.ok, output: (r.ok ? r.result.stdout : r.result.stderr || r.result.stdout).trim(), playbooks: needs(r.check.cmd) }));
      if (lock || checks.some((c) => !c.ok)) code = ExitCode.stepFailed;
      report.push({ host: name, target: host.target, reachable: true, lock: lock ?? null, checks, notApplicable: found.notApplicable });
      if (args.json) continue;
      // Labels, outputs and the lock holder come from the host or the inventory: escaped for the terminal.
      const out = [`${oneLine(name)} (${oneLine(host.target)})`, '  ✔ reachable', lock ? `  ✖ locked by ${oneLine(describeHolder(lock))}` : '  ✔ not locked'];
      for (const c of checks) {
        const last = c.output.split('\n').pop() ?? '';
        out.push(`  ${c.ok ? '✔' : '✖'} ${oneLine(c.label)}${c.ok && last ? ` (${oneLine(last)})` : ''}  [${c.playbooks.join(', ')}]`);
        if (!c.ok && c.output) out.push(...multiLine(c.output).split('\n').slice(-6).map((l) => `      ${l}`));
      }
      for (const n of found.notApplicable) out.push(`  - ${n.playbook}: does not apply (${oneLine(n.reason)})`);
      const failed = checks.filter((c) => !c.ok).length;
      if (failed || lock) out.push(`  ${failed} of ${checks.length} checks failed${lock ? '; the host is locked' : ''}`);
      // Reachable and not locked is all that was checked: say so rather than "all 0 checks passed".
      else out.push(checks.length ? `  all ${checks.length} checks passed` : '  no built-in playbook applies to this host: nothing else to check');
      write(out.join('\n') + '\n');
    }
  });
  if (args.json) write(JSON.stringify(report, null, 2) + '\n');
  return code;
}
