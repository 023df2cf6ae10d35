import { z } from 'zod';
import type { ActionDef } from '../action.js';
import { joinPath, quotePath, shellQuote } from '../quote.js';
import { script } from '../sh-lib.js';
import { stepDirVar } from '../step-dir.js';

const params = z
  .object({
    /** The link to create or re-point; relative paths are in the env's dir. */
    link: z.string({ error: '`with.link` is required' }).min(1),
    /** What it points to, stored as written (a relative target is relative to the link's directory). */
    target: z.string({ error: '`with.target` is required' }).min(1),
    /** Where a regular file found at `link` is kept (default `LINK.OLD`); relative paths are in the env's dir. */
    keep_as: z.string().min(1).optional(),
  })
  .strict();

/**
 * Atomic re-point: the new link is made under a temporary name and renamed over LINK (`mv -T`),
 * so LINK never disappears. A regular file at LINK is first hard-linked to KEEP, so it never
 * disappears either (same inode: a process that has it open is unaffected).
 */
export const symlinkAction: ActionDef<z.output<typeof params>> = {
  name: 'symlink',
  summary: 'atomically point a symlink at a target; a file in the way is kept aside',
  env: 'optional',
  params,
  build(input) {
    const { params: p, env } = input;
    const at = (path: string) => (env ? joinPath(env.dir, path) : path);
    const link = at(p.link);
    const keep = p.keep_as ? at(p.keep_as) : `${link}.OLD`;
    // The target is stored as written (`./-x` would be another link text), so every command that
    // takes it, or a previous target read back with readlink, gets it after `--`.
    const target = p.target.startsWith('-') ? shellQuote(p.target) : quotePath(p.target);
    const head = script(stepDirVar(input), `link=${quotePath(link)}; target=${target}; keep=${quotePath(keep)}; tmp="$link.bg-tmp"`);

    const capture = script(
      head,
      'mkdir -p "$sd"',
      'if [ -L "$link" ]; then',
      `  printf '%s' "$(readlink -- "$link")" > "$sd/link-target" && echo symlink > "$sd/link-state"`,
      'elif [ -d "$link" ]; then',
      '  echo "bg: $link is a directory: not replacing it with a symlink" >&2; exit 1',
      'elif [ -e "$link" ]; then',
      '  if [ -e "$keep" ] || [ -L "$keep" ]; then echo "bg: $link is a file and $keep already exists: move it away or give with.keep_as" >&2; exit 1; fi',
      '  echo file > "$sd/link-state"',
      'else',
      '  echo none > "$sd/link-state"',
      'fi',
    );
    const run = script(
      head,
      'set -e',
      'if [ -f "$link" ] && [ ! -L "$link" ]; then ln -- "$link" "$keep"; echo "kept $link as $keep"; fi',
      'rm -f -- "$tmp"',
      'ln -sfn -- "$target" "$tmp"',
      'mv -T -- "$tmp" "$link"',
      `printf '%s -> %s\\n' "$link" "$target"`,
    );
    const verify = script(
      head,
      'got=$(readlink -- "$link") || { echo "bg: $link is not a symlink" >&2; exit 1; }',
      '[ "$got" = "$target" ] || { echo "bg: $link points to $got, not $target" >&2; exit 1; }',
      `[ "$(cat "$sd/link-state" 2>/dev/null)" != file ] || [ -f "$keep" ] || { echo "bg: the previous file is not at $keep" >&2; exit 1; }`,
      `printf '%s -> %s\\n' "$link" "$got"`,
    );
    const undo = script(
      head,
      '[ -f "$sd/link-state" ] || { echo "nothing to undo: the step never started"; exit 0; }',
      'rm -f -- "$tmp"',
      'case $(cat "$sd/link-state") in',
      '  none) if [ -L "$link" ]; then rm -f -- "$link" && echo "removed $link"; fi ;;',
      `  symlink) prev=$(cat "$sd/link-target") && ln -sfn -- "$prev" "$tmp" && mv -T -- "$tmp" "$link" && printf '%s -> %s again\\n' "$link" "$prev" || exit 1 ;;`,
      '  file)',
      // A half-done run may have made the hard link but not the switch: then both names are one file.
      '    if [ -e "$keep" ] && [ "$keep" -ef "$link" ]; then rm -f -- "$keep"; echo "$link was never switched"',
      '    elif [ -e "$keep" ]; then mv -T -- "$keep" "$link" && echo "moved $keep back to $link" || exit 1',
      '    elif [ -f "$link" ] && [ ! -L "$link" ]; then echo "$link is already the file"',
      '    else echo "bg: cannot undo: the previous file $keep is missing" >&2; exit 1; fi ;;',
      'esac',
    );
    return {
      mutates: true,
      capture: [{ cmd: capture, label: `record what ${link} is now` }],
      run: [{ cmd: run, label: `${link} -> ${p.target}` }],
      verify: [{ cmd: verify, label: `readlink ${link} = ${p.target}` }],
      undo: [{ cmd: undo, label: `put back what ${link} was` }],
    };
  },
};
