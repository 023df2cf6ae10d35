// Where in a shell command each `{{ … }}` of a template sits: outside quotes, inside '…', inside
// "…", in a comment, or somewhere no quoting can make a value literal (backquotes, $(( )),
// ${ }, $'…', a here-document). The renderer quotes a value for the context it lands in, so a
// value stays one literal string wherever the template author put it. The scan follows POSIX sh
// plus the bash forms a login shell over SSH may add ($'…', $"…", (( )), here-strings).

/** How a value must be written where it sits, or why it cannot be. */
export type Slot =
  | { kind: 'word' } // unquoted (also inside $( ) at any depth): one quoted word
  | { kind: 'single' } // inside '…': close, quoted word, reopen
  | { kind: 'double' } // inside "…": close, quoted word, reopen
  | { kind: 'comment' } // after #: inert, but a newline would end the comment
  | { kind: 'unsafe'; why: string };

export interface ShellScan {
  /** One slot per expression, in order. */
  slots: Slot[];
  /** The template itself is not complete shell text (an unterminated quote), or undefined. */
  unterminated?: string;
}

type Ctx =
  | { t: 'top' }
  | { t: 'cmd'; depth: number; cases: number } // $( … ); `case … esac` inside has bare `)`
  | { t: 'sq' }
  | { t: 'dq' }
  | { t: 'bq' } // ` … `
  | { t: 'ansi' } // $' … '
  | { t: 'param'; depth: number } // ${ … }
  | { t: 'arith'; depth: number } // $(( … )) and (( … ))
  | { t: 'comment' }
  | { t: 'heredoc'; delim: string; strip: boolean; line: string };

/** A template as literal text pieces with an expression between each two of them. */
export function scanShell(pieces: readonly string[]): ShellScan {
  // One stream: characters, and `null` where an expression sits.
  const stream: Array<string | null> = [];
  pieces.forEach((p, i) => {
    for (const ch of p) stream.push(ch);
    if (i < pieces.length - 1) stream.push(null);
  });

  const stack: Ctx[] = [{ t: 'top' }];
  const slots: Slot[] = [];
  const pendingHeredocs: Array<{ delim: string; strip: boolean }> = [];
  const top = () => stack[stack.length - 1]!;
  const at = (i: number) => stream[i];
  const next = (i: number, s: string) => s.split('').every((c, k) => at(i + k) === c);
  /** The reserved word `w` at i, followed by a blank or the end. */
  const word = (i: number, w: string) => next(i, w) && (i + w.length >= stream.length || /[\s;&|()<>]/.test(at(i + w.length) ?? ''));
  /** Past the character a `\` at i escapes; never past a value (a value after `\` is refused). */
  const esc = (i: number) => (typeof at(i + 1) === 'string' ? i + 1 : i);
  // Characters after which a `#` or `((` starts something (a new word or command).
  const boundary = (i: number) => i === 0 || (typeof at(i - 1) === 'string' && /[\s;&|()<>]/.test(at(i - 1)!));

  const unsafe = (why: string): Slot => ({ kind: 'unsafe', why });
  /** In word and "…" contexts a `\` or a `$` right before the value would change its meaning. */
  const glued = (i: number): string | undefined => {
    const prev = at(i - 1);
    if (prev === '$') return 'right after `$`';
    if (prev === '\\') {
      let n = 0;
      for (let k = i - 1; k >= 0 && at(k) === '\\'; k--) n++;
      if (n % 2 === 1) return 'right after a `\\`';
    }
    return undefined;
  };

  for (let i = 0; i < stream.length; i++) {
    const c = at(i);
    const ctx = top();
    if (c === null) {
      switch (ctx.t) {
        case 'top':
        case 'cmd': {
          const g = glued(i);
          slots.push(g ? unsafe(`a value ${g} cannot be quoted`) : { kind: 'word' });
          break;
        }
        case 'dq': {
          const g = glued(i);
          slots.push(g ? unsafe(`a value ${g} cannot be quoted`) : { kind: 'double' });
          break;
        }
        case 'sq':
          slots.push({ kind: 'single' });
          break;
        case 'comment':
          slots.push({ kind: 'comment' });
          break;
        case 'bq':
          slots.push(unsafe('a value inside backquotes cannot be quoted (use $( … ) instead)'));
          break;
        case 'ansi':
          slots.push(unsafe("a value inside $'…' cannot be quoted"));
          break;
        case 'param':
          slots.push(unsafe('a value inside ${ … } cannot be quoted'));
          break;
        case 'arith':
          slots.push(unsafe('a value inside an arithmetic expression $(( … )) cannot be quoted'));
          break;
        case 'heredoc':
          slots.push(unsafe('a value inside a here-document cannot be quoted (pass it on a command line, e.g. printf \'%s\\n\' {{ … }} | …)'));
          ctx.line += '\u0000';
          break;
      }
      continue;
    }

    switch (ctx.t) {
      case 'sq':
        if (c === "'") stack.pop();
        break;
      case 'ansi':
        if (c === '\\') i = esc(i);
        else if (c === "'") stack.pop();
        break;
      case 'comment':
        if (c === '\n') {
          stack.pop();
          i = newline(i);
        }
        break;
      case 'heredoc':
        if (c === '\n') {
          const line = ctx.strip ? ctx.line.replace(/^\t+/, '') : ctx.line;
          if (line === ctx.delim) {
            stack.pop();
            i = newline(i);
          } else ctx.line = '';
        } else ctx.line += c;
        break;
      case 'bq':
        if (c === '\\') i = esc(i);
        else if (c === '`') stack.pop();
        break;
      case 'dq':
        if (c === '\\') i = esc(i);
        else if (c === '"') stack.pop();
        else if (c === '`') stack.push({ t: 'bq' });
        else if (c === '$') i = dollar(i);
        break;
      case 'arith':
        if (c === '(') ctx.depth++;
        else if (c === ')') {
          if (ctx.depth > 0) ctx.depth--;
          else if (at(i + 1) === ')') {
            stack.pop();
            i++;
          }
        } else if (c === '$') i = dollar(i);
        break;
      case 'param':
        if (c === '\\') i = esc(i);
        else if (c === '{') ctx.depth++;
        else if (c === '}') {
          if (ctx.depth > 0) ctx.depth--;
          else stack.pop();
        } else if (c === "'") stack.push({ t: 'sq' });
        else if (c === '"') stack.push({ t: 'dq' });
        else if (c === '`') stack.push({ t: 'bq' });
        else if (c === '$') i = dollar(i);
        break;
      case 'top':
      case 'cmd':
        if (c === '\\') i = esc(i);
        else if (c === "'") stack.push({ t: 'sq' });
        else if (c === '"') stack.push({ t: 'dq' });
        else if (c === '`') stack.push({ t: 'bq' });
        else if (c === '$') i = dollar(i);
        else if (c === '#' && boundary(i)) stack.push({ t: 'comment' });
        else if (c === '(' && next(i, '((') && boundary(i)) {
          stack.push({ t: 'arith', depth: 0 });
          i++;
        } else if (c === '<' && next(i, '<<<')) i += 2; // a here-string: its word is an ordinary word
        else if (c === '<' && next(i, '<<')) i = heredoc(i);
        else if (c === '\n') i = newline(i);
        else if (ctx.t === 'cmd') {
          if (boundary(i) && word(i, 'case')) ctx.cases++;
          else if (boundary(i) && word(i, 'esac')) ctx.cases = Math.max(0, ctx.cases - 1);
          else if (c === '(') ctx.depth++;
          else if (c === ')') {
            if (ctx.depth > 0) ctx.depth--;
            else if (ctx.cases === 0) stack.pop();
          }
        }
        break;
    }
  }

  /** After `$` at i: enter what it opens; returns the index of the last character consumed. */
  function dollar(i: number): number {
    if (next(i, '$((')) {
      stack.push({ t: 'arith', depth: 0 });
      return i + 2;
    }
    if (next(i, '$(')) {
      stack.push({ t: 'cmd', depth: 0, cases: 0 });
      return i + 1;
    }
    if (next(i, '${')) {
      stack.push({ t: 'param', depth: 0 });
      return i + 1;
    }
    if (top().t !== 'dq' && next(i, "$'")) {
      stack.push({ t: 'ansi' });
      return i + 1;
    }
    if (top().t !== 'dq' && next(i, '$"')) {
      stack.push({ t: 'dq' });
      return i + 1;
    }
    return i;
  }

  /** `<<` at i: read the delimiter word; its body starts at the next newline. */
  function heredoc(i: number): number {
    let k = i + 2;
    const strip = at(k) === '-';
    if (strip) k++;
    while (at(k) === ' ' || at(k) === '\t') k++;
    let delim = '';
    let quote: string | undefined;
    for (; k < stream.length; k++) {
      const ch = at(k);
      if (ch === undefined) break;
      if (ch === null) {
        slots.push(unsafe('a value as a here-document delimiter cannot be quoted'));
        continue;
      }
      if (quote) {
        if (ch === quote) quote = undefined;
        else delim += ch;
      } else if (ch === "'" || ch === '"') quote = ch;
      else if (ch === '\\') delim += at(++k) ?? '';
      else if (/[\s;&|()<>]/.test(ch)) break;
      else delim += ch;
    }
    pendingHeredocs.push({ delim, strip });
    return k - 1;
  }

  /** A newline at i outside quotes: here-documents of the line just ended start now. */
  function newline(i: number): number {
    const h = pendingHeredocs.shift();
    if (h) {
      // Bodies follow one another: push them in reverse so the first is read first.
      const rest = pendingHeredocs.splice(0);
      for (const r of rest.reverse()) stack.push({ t: 'heredoc', delim: r.delim, strip: r.strip, line: '' });
      stack.push({ t: 'heredoc', delim: h.delim, strip: h.strip, line: '' });
    }
    return i;
  }

  const open = stack.slice(1).filter((c) => c.t !== 'comment' && c.t !== 'heredoc');
  const names: Record<string, string> = { sq: "'", dq: '"', bq: '`', ansi: "$'", cmd: '$(', param: '${', arith: '$((' };
  const last = open[open.length - 1];
  return { slots, unterminated: last ? `unterminated \`${names[last.t]}\` in the shell command` : undefined };
}
