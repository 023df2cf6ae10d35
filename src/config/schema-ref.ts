// Where a YAML file written by `bg init` finds bg's JSON Schema: a reference that works for
// everyone who clones the project, never an absolute path of the machine that ran `bg init`.
// Pure: which project declares bg-deploy is looked up on the CLI side (src/cli/schema-ref.ts).
import { join, relative, sep } from 'node:path';

/** The npm package bg is published as (its command stays `bg`). */
export const PACKAGE_NAME = 'bg-deploy';

/** Versioned URL of a schema inside the published package (unpkg serves any file of a published version). */
export function schemaUrl(version: string, name: string): string {
  return `https://unpkg.com/${PACKAGE_NAME}@${version}/schemas/${name}`;
}

/**
 * The `$schema` value for a file in `fromDir`: when `project` (a directory whose package.json
 * declares bg-deploy, so `npm ci` of any clone puts it in node_modules) is known, a relative path
 * into its node_modules; otherwise the versioned URL of the same schema.
 */
export function schemaRefFor(fromDir: string, project: string | undefined, name: string, version: string): string {
  if (!project) return schemaUrl(version, name);
  const rel = relative(fromDir, join(project, 'node_modules', PACKAGE_NAME, 'schemas', name)).split(sep).join('/');
  return rel.startsWith('.') ? rel : `./${rel}`;
}

/** Whether a package.json's text lists bg-deploy as a dependency (any kind); unparsable text does not. */
export function declaresPackage(packageJson: string): boolean {
  try {
    const pkg = JSON.parse(packageJson) as Record<string, Record<string, string> | undefined>;
    const sections = [pkg.dependencies, pkg.devDependencies, pkg.optionalDependencies];
    return sections.some((s) => s && typeof s === 'object' && PACKAGE_NAME in s);
  } catch {
    return false;
  }
}
