// The `$schema` reference `bg init` writes: the file lookups behind src/config/schema-ref.ts.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { declaresPackage, schemaRefFor } from '../config/schema-ref.js';

export { schemaUrl } from '../config/schema-ref.js';

/**
 * The `$schema` value for a file in `fromDir`. When the project at or above `projectDir` declares
 * bg-deploy in its package.json, a relative path into that node_modules; otherwise the versioned URL.
 */
export function schemaRef(fromDir: string, projectDir: string, name: string, version: string): string {
  return schemaRefFor(fromDir, declaringProject(projectDir), name, version);
}

/** The nearest directory at or above `dir` whose package.json lists bg-deploy as a dependency. */
export function declaringProject(dir: string): string | undefined {
  for (let d = dir; ; d = dirname(d)) {
    const pkgFile = join(d, 'package.json');
    if (existsSync(pkgFile)) {
      let text = '';
      try {
        text = readFileSync(pkgFile, 'utf8');
      } catch {
        // An unreadable package.json is no declaration; keep looking upward.
      }
      if (declaresPackage(text)) return d;
    }
    if (dirname(d) === d) return undefined;
  }
}
