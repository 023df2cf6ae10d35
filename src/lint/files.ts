// PATHS → the migration files to lint: a file is taken as given; a directory gives its `*.sql`
// files (recursively; dot-directories and node_modules skipped), in migration order.
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';

export interface ExpandedPaths {
  files: string[];
  /** Paths that could not be used, with why (exit 2). */
  problems: Array<{ file: string; message: string }>;
}

/** Natural order: `2_x.sql` before `10_y.sql`, as migration runners that sort numerically do. */
export function compareMigrationNames(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true, sensitivity: 'variant' }) || (a < b ? -1 : a > b ? 1 : 0);
}

export async function expandPaths(paths: readonly string[]): Promise<ExpandedPaths> {
  const files: string[] = [];
  const problems: ExpandedPaths['problems'] = [];
  const seen = new Set<string>();
  const push = (f: string) => {
    const key = path.resolve(f);
    if (!seen.has(key)) {
      seen.add(key);
      files.push(f);
    }
  };
  for (const p of paths) {
    let st;
    try {
      st = await stat(p);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      problems.push({ file: p, message: code === 'ENOENT' ? 'no such file or directory' : `cannot read: ${code ?? String(e)}` });
      continue;
    }
    if (st.isDirectory()) {
      const found = await sqlFilesUnder(p);
      if (found.length === 0) problems.push({ file: p, message: 'no .sql files in this directory' });
      found.forEach(push);
    } else {
      push(p);
    }
  }
  return { files, problems };
}

/** `*.sql` below `dir`, each directory's files in migration order before its subdirectories. */
async function sqlFilesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries.map((e) => e.name).sort(compareMigrationNames);
  const byName = new Map(entries.map((e) => [e.name, e]));
  const out: string[] = [];
  const subdirs: string[] = [];
  for (const name of names) {
    const e = byName.get(name)!;
    if (e.isDirectory()) {
      if (!name.startsWith('.') && name !== 'node_modules') subdirs.push(name);
    } else if ((e.isFile() || e.isSymbolicLink()) && /\.sql$/i.test(name)) {
      out.push(path.join(dir, name));
    }
  }
  for (const d of subdirs) out.push(...(await sqlFilesUnder(path.join(dir, d))));
  return out;
}
