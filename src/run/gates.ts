import { randomBytes } from 'node:crypto';
import type { Gate } from '../plan/types.js';
import type { CommandResult, Transport } from '../transport/transport.js';

export interface GateOptions {
  /** `--allow-breaking`: report breaking migrations but let them run. */
  allowBreaking?: boolean;
}

export interface GateResult {
  gate: Gate;
  ok: boolean;
  /** What a person reads: the findings, or why the gate could not decide. */
  report: string;
}

/**
 * Gates are pre-flight checks decided by bg rather than by an exit status: the host prints
 * material (here, the migration files with which of them are pending) and bg judges it.
 */
export async function runGate(gate: Gate, transport: Transport, opts: GateOptions): Promise<GateResult> {
  const { cmd, boundary } = gateCommand(gate);
  return judgeGate(gate, await transport.exec(cmd, { timeoutMs: 120_000 }), opts, boundary);
}

/** The command that prints a gate's material, behind a boundary of this read only. */
export function gateCommand(gate: Gate): { cmd: string; boundary: string } {
  // A migration file holding a line such as `@@pending x` cannot start a record of its own and
  // hide SQL from the lint.
  const boundary = `bg-${randomBytes(16).toString('hex')}-`;
  return { cmd: `BG_MIGRATION_BOUNDARY=${boundary}; export BG_MIGRATION_BOUNDARY; ${gate.cmd}`, boundary };
}

/** bg's judgement of what a gate's command printed. */
export async function judgeGate(gate: Gate, r: CommandResult, opts: GateOptions, boundary: string): Promise<GateResult> {
  if (r.exitCode !== 0) return { gate, ok: false, report: `cannot list the migrations: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' / ')}` };
  return lintPending(gate, r.stdout, opts, boundary);
}

/** Output format: `BOUNDARYapplied NAME` or `BOUNDARYpending NAME`, then the file's text, for every file in order. */
export function parseMigrationListing(text: string, boundary = '@@'): Array<{ name: string; pending: boolean; sql: string }> {
  const head = new RegExp(`^${boundary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?=applied |pending )`, 'm');
  return text
    .split(head)
    .slice(1)
    .map((chunk) => {
      const nl = chunk.indexOf('\n');
      const head = nl < 0 ? chunk : chunk.slice(0, nl);
      const [state = '', ...name] = head.split(' ');
      return { name: name.join(' '), pending: state === 'pending', sql: nl < 0 ? '' : chunk.slice(nl + 1) };
    });
}

async function lintPending(gate: Gate, listing: string, opts: GateOptions, boundary: string): Promise<GateResult> {
  const { lintMigration, newSchema } = await import('../lint/analyze.js');
  const { fails } = await import('../lint/format.js');
  const files = parseMigrationListing(listing, boundary);
  const pending = files.filter((f) => f.pending);
  if (pending.length === 0) return { gate, ok: true, report: 'no pending migrations' };
  // Applied migrations are read too, only to learn the schema they built (which indexes are unique, …).
  const schema = newSchema();
  const lines: string[] = [];
  let breaking = 0;
  for (const f of files) {
    let result;
    try {
      result = lintMigration(f.sql, { file: f.name, dialect: gate.dialect, schema });
    } catch (e) {
      if (!f.pending) continue;
      return { gate, ok: false, report: `pending migration ${f.name} does not parse: ${(e as Error).message.split('\n').slice(-1)[0]}` };
    }
    if (!f.pending) continue;
    for (const finding of result.findings) {
      if (fails(finding)) breaking++;
      lines.push(`${f.name}:${finding.line}:${finding.column} ${finding.rule}${finding.accepted ? ` accepted (${finding.acceptedBecause})` : ''}: ${finding.message}${fails(finding) ? `\n      safe alternative: ${finding.fix}` : ''}`);
    }
  }
  const head = `${pending.length} pending migration(s) (${pending.map((p) => p.name).join(', ')}): ${breaking} breaking`;
  const report = [head, ...lines.map((l) => `    ${l}`)].join('\n');
  if (breaking && opts.allowBreaking) return { gate, ok: true, report: `${report}\n    (let through by --allow-breaking)` };
  return { gate, ok: breaking === 0, report: breaking ? `${report}\n    the old version still running would break; fix the migration, mark it a contract step, or pass --allow-breaking` : report };
}
