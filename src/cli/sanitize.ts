/**
 * Every user value (and everything a host sends back) is escaped for the channel it is printed on:
 * - a terminal or CI log: control characters, ESC, C1 codes and bidi overrides are shown visibly
 *   (`\x1b`, `\r`, `\u202e`), so no value moves the cursor, recolours, rewrites or hides a line;
 *   in one-line fields a newline is shown as `\n`, so no value forges a line of its own;
 * - a GitHub Actions log: see `installGithubGuard`;
 * - Markdown (the step summary): `markdownCell`, `markdownText`, `fence`;
 * - JSON stays JSON.stringify (already safe).
 */

// C0 (but \t and \n, handled per mode), DEL, C1, line/paragraph separators, bidi controls.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const CONTROL_ONE_LINE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function visible(c: string): string {
  if (c === '\n') return '\\n';
  if (c === '\r') return '\\r';
  if (c === '\t') return '\\t';
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** A value printed inside one line (a name, a title, a variable): nothing in it can break the line. */
export function oneLine(s: unknown): string {
  return String(s).replace(CONTROL_ONE_LINE, visible);
}

/** Text printed over several lines (command output, a command, an error): line breaks stay. */
export function multiLine(s: unknown): string {
  return String(s).replace(/\r\n/g, '\n').replace(CONTROL, visible);
}

/** A Markdown table cell: one line, and no `|`, HTML, code span, link or emphasis of its own. */
export function markdownCell(s: unknown): string {
  return markdownText(s);
}

/** Markdown inline text (a heading, a list item): one line, every Markdown/HTML character inert. */
export function markdownText(s: unknown): string {
  // Inside a line, only these start Markdown or HTML (`-`, `#`, `+` only matter at a line's start).
  return oneLine(s).replace(/[\\`*_{}[\]<>|~&$]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A fenced code block that no content can close early: the fence is longer than any backtick run in it. */
export function fence(content: string): string {
  const body = multiLine(content);
  const longest = Math.max(0, ...(body.match(/`+/g) ?? []).map((r) => r.length));
  const f = '`'.repeat(Math.max(3, longest + 1));
  return `${f}text\n${body}\n${f}`;
}

/** GitHub workflow command values (`::error::DATA`): %, CR and LF escaped as the runner expects. */
export function githubData(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}
/** A workflow command property (`title=…`): also `:` and `,`. */
export function githubProperty(s: string): string {
  return githubData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

/**
 * Make one line of log text inert for the GitHub Actions runner, which reads bg's stdout AND
 * stderr line by line (CR, LF and CRLF all end a line) and runs `::cmd::` at a line's start (after
 * leading whitespace) and the legacy `##[cmd]` anywhere in a line. A line whose text starts with
 * `::` gets a `\` in front; `##[` becomes `#\u0023[` (also valid inside a JSON string, where it
 * decodes to the same `##[`); a lone CR is shown as `\r`.
 */
export function githubInert(line: string): string {
  let out = line.replace(/##\[/g, '#\\u0023[').replace(/\r(?!$)/g, '\\r');
  if (/^\s*::/.test(out)) out = '\\' + out;
  return out;
}

type Write = (chunk: string | Uint8Array, ...rest: unknown[]) => boolean;

interface Guarded {
  /** Write a workflow command bg means to issue (`::group::…`), bypassing the guard. */
  command(line: string): void;
}

let installed: Guarded | undefined;

/**
 * In GitHub Actions, no line bg prints is a workflow command unless bg issues it through
 * `githubCommand`. Both streams are guarded at the source, so every message, report, plan and
 * listing (error messages quote host output and user values) is covered, whoever writes it.
 * Partial lines are held until their line ends (or the process exits).
 */
export function installGithubGuard(streams: NodeJS.WriteStream[] = [process.stdout, process.stderr]): Guarded {
  if (installed) return installed;
  const raws = new Map<NodeJS.WriteStream, Write>();
  const pending = new Map<NodeJS.WriteStream, string>();
  const flush = (stream: NodeJS.WriteStream) => {
    const rest = pending.get(stream);
    if (rest) raws.get(stream)!(githubInert(rest));
    pending.set(stream, '');
  };
  for (const stream of streams) {
    const raw = stream.write.bind(stream) as Write;
    raws.set(stream, raw);
    pending.set(stream, '');
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      const text = pending.get(stream)! + (typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      const lines = text.split('\n');
      pending.set(stream, lines.pop()!);
      if (lines.length === 0) {
        const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
        cb?.();
        return true;
      }
      return raw(lines.map(githubInert).join('\n') + '\n', ...rest);
    }) as typeof stream.write;
  }
  process.on('exit', () => streams.forEach(flush));
  installed = {
    command: (line: string) => {
      const out = process.stdout;
      if (raws.has(out)) {
        flush(out);
        raws.get(out)!(line + '\n');
      } else out.write(line + '\n');
    },
  };
  return installed;
}

/** Issue a GitHub workflow command (one line, built from escaped parts) on stdout. */
export function githubCommand(line: string, write: (s: string) => void = (s) => process.stdout.write(s)): void {
  if (installed) installed.command(line);
  else write(line + '\n');
}
