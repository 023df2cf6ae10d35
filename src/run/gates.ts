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
  /** Breaking findings passed (--allow-breaking, or the gate's allowBreaking): the run says so. */
  letThrough?: true;
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

/**
 * Output format: `BOUNDARYapplied NAME` or `BOUNDARYpending NAME`, then the file's text, for every
 * file in order; before them, `BOUNDARYschema live` and the database's `.schema` (a `schema` record).
 */
export function parseMigrationListing(text: string, boundary = '@@'): Array<{ name: string; pending: boolean; schema?: true; sql: string }> {
  const head = new RegExp(`^${boundary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?=applied |pending |schema live\n)`, 'm');
  return text
    .split(head)
    .slice(1)
    .map((chunk) => {
      const nl = chunk.indexOf('\n');
      const head = nl < 0 ? chunk : chunk.slice(0, nl);
      const [state = '', ...name] = head.split(' ');
      const sql = nl < 0 ? '' : chunk.slice(nl + 1);
      return state === 'schema' ? { name: 'live schema', pending: false, schema: true as const, sql } : { name: name.join(' '), pending: state === 'pending', sql };
    });
}

async function lintPending(gate: Gate, listing: string, opts: GateOptions, boundary: string): Promise<GateResult> {
  const { lintMigration, newSchema, closeSchema, rejectedBy, SchemaRejected, SqlParseError } = await import('../lint/analyze.js');
  const { loadEngines } = await import('../lint/engines.js');
  const { fails } = await import('../lint/format.js');
  const records = parseMigrationListing(listing, boundary);
  const live = records.find((f) => f.schema);
  const files = records.filter((f) => !f.schema);
  const pending = files.filter((f) => f.pending);
  if (pending.length === 0) return { gate, ok: true, report: 'no pending migrations' };
  await loadEngines([gate.dialect]);
  // The live schema is what the pending migrations will meet: they are judged against it (SQLite's
  // .schema; PostgreSQL's pg_dump --schema-only). A host that sends none (an older library) gets the
  // applied migrations replayed instead.
  const schema = newSchema(live ? live.sql : undefined);
  const lines: string[] = [];
  let breaking = 0;
  try {
    for (const f of files) {
      if (live && !f.pending) continue;
      let result;
      try {
        result = lintMigration(f.sql, { file: f.name, dialect: gate.dialect, schema });
      } catch (e) {
        if (e instanceof SchemaRejected) return { gate, ok: false, report: `the database's live schema cannot be read back by ${gate.dialect === 'postgres' ? 'PostgreSQL\'s parser' : 'SQLite'} ${e.line}:${e.column}: ${e.reason}` };
        if (!f.pending) continue;
        if (e instanceof SqlParseError) return { gate, ok: false, report: `pending migration ${f.name}:${e.line}:${e.column}: ${rejectedBy(e.dialect)}${live ? ' (applied to the live schema)' : ''}: ${e.reason}` };
        return { gate, ok: false, report: `pending migration ${f.name} could not be linted: ${(e as Error).message.split('\n').slice(-1)[0]}` };
      }
      if (!f.pending) continue;
      for (const finding of result.findings) {
        if (fails(finding)) breaking++;
        lines.push(`${f.name}:${finding.line}:${finding.column} ${finding.rule}${finding.accepted ? ` accepted (${finding.acceptedBecause})` : ''}: ${finding.message}${fails(finding) ? `\n      safe alternative: ${finding.fix}` : ''}`);
      }
    }
  } finally {
    closeSchema(schema);
  }
  const head = `${pending.length} pending migration(s) (${pending.map((p) => p.name).join(', ')}) against the ${live ? 'live schema' : 'applied migrations'}: ${breaking} breaking`;
  const report = [head, ...lines.map((l) => `    ${l}`)].join('\n');
  if (breaking && opts.allowBreaking) return { gate, ok: true, letThrough: true, report: `${report}\n    (let through by --allow-breaking)` };
  if (breaking && gate.allowBreaking) return { gate, ok: true, letThrough: true, report: `${report}\n    (let through: the step allows breaking migrations, with.allow_breaking; no old version may run meanwhile)` };
  return { gate, ok: breaking === 0, report: breaking ? `${report}\n    the old version still running would break; fix the migration, mark it a contract step, or pass --allow-breaking` : report };
}
