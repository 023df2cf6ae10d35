import type { CommandResult } from '../transport/transport.js';
import type { Command } from '../plan/types.js';

export type Phase = 'capture' | 'run' | 'verify' | 'undo' | 'journal' | 'check' | 'copy';

const TAIL_LINES = 12;
const SHOWN_LINES = 6;

/** A command that failed on a host, with everything a person needs to act on it. */
export class StepFailure extends Error {
  /** The host-side step runner wrote this failure to the run's journal itself. */
  journaled = false;

  constructor(
    readonly host: string,
    readonly step: { index: number; name: string },
    readonly phase: Phase,
    readonly command: Command,
    readonly result: CommandResult,
    readonly attempts = 1,
  ) {
    super(describeFailure(host, step.name, phase, command, result, attempts));
    this.name = 'StepFailure';
  }

  /** One line, for annotations and summaries. */
  get headline(): string {
    return this.message.split('\n')[0] ?? this.message;
  }
}

function describeFailure(host: string, step: string, phase: Phase, command: Command, r: CommandResult, attempts: number): string {
  const what = phase === 'verify' ? 'verify' : phase === 'run' ? 'command' : `${phase} command`;
  const how = r.connectionLost ? 'lost its connection (the host runs the step on without bg and journals how it ends: bg status shows it)' : r.timedOut ? 'timed out' : `exited ${r.exitCode}${r.signal ? ` (${r.signal})` : ''}`;
  const tries = attempts > 1 ? ` after ${attempts} attempts` : '';
  const lines = [`"${step}" failed on ${host}: ${what} ${how}${tries}`];
  lines.push(`  command${command.label ? ` (${command.label})` : ''}:`);
  lines.push(...indent(clip(command.cmd, SHOWN_LINES, 'bg plan shows it whole'), '    '));
  const tail = lastLines(r.stderr || r.stdout, TAIL_LINES);
  if (tail) lines.push(`  ${r.stderr ? 'stderr' : 'stdout'} (last lines):`, ...indent(tail, '    '));
  return lines.join('\n');
}

function clip(text: string, max: number, hint: string): string {
  const lines = text.split('\n');
  return lines.length <= max ? text : [...lines.slice(0, max), `… ${lines.length - max} more lines (${hint})`].join('\n');
}

export function lastLines(text: string, n: number): string {
  return text.trimEnd().split('\n').slice(-n).join('\n');
}

function indent(text: string, pad: string): string[] {
  return text.split('\n').map((l) => pad + l);
}
