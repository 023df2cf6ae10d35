// Where a YAML file written by `bg init` finds bg's JSON Schema: a reference that works for
// everyone who clones the project, never an absolute path of the machine that ran `bg init`.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';

/** The npm package bg is published as (its command stays `bg`). */
export const PACKAGE_NAME = 'bg-deploy';

/** Versioned URL of a schema inside the published package (unpkg serves any file of a published version). */
export function schemaUrl(version: string, name: string): string {
  return `https://unpkg.com/${PACKAGE_NAME}@${version}/schemas/${name}`;
}

/**
 * The `$schema` value for a file in `fromDir`. When the project at or above `projectDir` declares
 * bg-deploy in its package.json (so `npm ci` of any clone puts it in node_modules), a relative
 * path into that node_modules; otherwise the versioned URL of the same schema.
 */
export function schemaRef(fromDir: string, projectDir: string, name: string, version: string): string {
  const project = declaringProject(projectDir);
  if (project) {
    const rel = relative(fromDir, join(project, 'node_modules', PACKAGE_NAME, 'schemas', name)).split(sep).join('/');
    return rel.startsWith('.') ? rel : `./${rel}`;
  }
  return schemaUrl(version, name);
}

/** The nearest directory at or above `dir` whose package.json lists bg-deploy as a dependency. */
export function declaringProject(dir: string): string | undefined {
  for (let d = dir; ; d = dirname(d)) {
    const pkgFile = join(d, 'package.json');
    if (existsSync(pkgFile)) {
      try {
        const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as Record<string, Record<string, string> | undefined>;
        const sections = [pkg.dependencies, pkg.devDependencies, pkg.optionalDependencies];
        if (sections.some((s) => s && typeof s === 'object' && PACKAGE_NAME in s)) return d;
      } catch {
        // An unreadable package.json is no declaration; keep looking upward.
      }
    }
    if (dirname(d) === d) return undefined;
  }
}
