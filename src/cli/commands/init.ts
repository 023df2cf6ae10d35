import { closeSync, linkSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, rmdirSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { BgError, ExitCode } from '../../errors.js';
import { schemaRef } from '../schema-ref.js';
import { PACKAGE_ROOT as PACKAGE, packageVersion } from '../package-info.js';

/** `bg init`: a hosts.yaml and playbooks/ to start from, never over existing files. */
export function initCommand(args: { dir?: string; json?: boolean; _?: Array<string | number> }, write = (s: string) => process.stdout.write(s)): number {
  const root = resolve(targetDir(args));
  const files = new Map<string, string>();
  // The schema path must work in every clone, not only here: see src/config/schema-ref.ts.
  const version = packageVersion();
  const schemaLine = (from: string, name: string) => `# yaml-language-server: $schema=${schemaRef(from, root, name, version)}`;
  const withSchema = (text: string, from: string, name: string) => [schemaLine(from, name), ...text.split('\n').filter((l) => !l.startsWith('# yaml-language-server:'))].join('\n');

  files.set(join(root, 'hosts.yaml'), withSchema(readFileSync(join(PACKAGE, 'hosts.example.yaml'), 'utf8'), root, 'hosts.schema.json'));
  for (const f of readdirSync(join(PACKAGE, 'playbooks')).filter((f) => f.endsWith('.yaml')).sort())
    files.set(join(root, 'playbooks', f), withSchema(readFileSync(join(PACKAGE, 'playbooks', f), 'utf8'), join(root, 'playbooks'), 'playbook.schema.json'));

  check(root, files);
  writeAll(files);
  if (args.json) write(JSON.stringify({ written: [...files.keys()].map((f) => relative(process.cwd(), f) || f) }, null, 2) + '\n');
  else write(`wrote ${[...files.keys()].map((f) => relative(process.cwd(), f) || f).join(', ')}\nnext: edit hosts.yaml, then bg validate and bg plan phase1 --host prod\n`);
  return ExitCode.ok;
}

/** The directory argument, also after `--` (`bg init -- -odd-name`): yargs puts that one in `_`. */
function targetDir(args: { dir?: string; _?: Array<string | number> }): string {
  const rest = (args._ ?? []).slice(1).map(String);
  const given = [...(args.dir === undefined ? [] : [String(args.dir)]), ...rest];
  if (given.length > 1) throw new BgError(`bg init takes one directory; got ${given.map((g) => JSON.stringify(g)).join(', ')}`, ExitCode.badInput);
  if (given[0] === '') throw new BgError('bg init: the directory name is empty', ExitCode.badInput);
  return given[0] ?? '.';
}

const shown = (p: string) => relative(process.cwd(), p) || '.';

/** What is at a path, without following a symlink (a dangling one counts: it exists). */
function kind(path: string): 'none' | 'dir' | 'other' {
  try {
    const st = lstatSync(path);
    return st.isDirectory() ? 'dir' : 'other';
  } catch (e) {
    // ENOTDIR: a parent is a file; the directory check names that one.
    if (['ENOENT', 'ENOTDIR'].includes((e as NodeJS.ErrnoException).code ?? '')) return 'none';
    throw new BgError(`bg init cannot look at ${shown(path)}: ${(e as Error).message}`, ExitCode.badInput);
  }
}

/** Everything is checked before anything is written: a refusal leaves the directory untouched. */
function check(root: string, files: Map<string, string>): void {
  const problems: string[] = [];
  const dirs = new Set([...files.keys()].map(dirname));
  for (const dir of dirs)
    for (let d = dir; ; d = dirname(d)) {
      const k = kind(d);
      // A symlinked directory would send the files elsewhere; a file cannot hold files.
      if (k === 'other') problems.push(`${shown(d)} is not a directory (or is a symlink)`);
      if (k !== 'none' || d === dirname(d) || d === dirname(root)) break;
    }
  for (const file of files.keys()) if (kind(file) !== 'none') problems.push(`${shown(file)} exists already`);
  if (problems.length)
    throw new BgError(`bg init writes nothing over existing files and follows no links; nothing was written:\n  ${[...new Set(problems)].join('\n  ')}\nmove them away or start in an empty directory`, ExitCode.badInput);
}

/**
 * Each file is written whole under a temporary name, then hard-linked to its name: link() never
 * follows or replaces what is there. Any failure removes every file and directory this call made.
 */
function writeAll(files: Map<string, string>): void {
  const made: string[] = [];
  const madeDirs: string[] = [];
  try {
    for (const [file, text] of files) {
      const dir = dirname(file);
      const first = mkdirSync(dir, { recursive: true });
      if (first) for (let d = dir; d.startsWith(first); d = dirname(d)) madeDirs.push(d);
      const tmp = join(dir, `.${basename(file)}.bg-init-${process.pid}`);
      const fd = openSync(tmp, 'wx', 0o644);
      try {
        writeSync(fd, text);
      } finally {
        closeSync(fd);
      }
      try {
        linkSync(tmp, file);
        made.push(file);
      } finally {
        unlinkSync(tmp);
      }
    }
  } catch (e) {
    for (const f of made.reverse()) tryRemove(() => unlinkSync(f));
    for (const d of [...new Set(madeDirs)].sort((a, b) => b.length - a.length)) tryRemove(() => rmdirSync(d));
    const err = e as NodeJS.ErrnoException;
    throw new BgError(`bg init could not write ${err.path ? shown(err.path) : 'the project'} (${err.code ?? err.message}); nothing was left behind`, ExitCode.badInput, { cause: e });
  }
}

function tryRemove(fn: () => void): void {
  try {
    fn();
  } catch {
    // Best effort: what cannot be removed is named by the error the user sees anyway.
  }
}
