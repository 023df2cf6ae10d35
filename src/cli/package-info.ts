// bg's own package on this machine: where it is installed, its version, its built-in playbooks.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The installed package's root (dist/cli/ is two levels below it). */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The package's own playbooks/ folder (built-in playbooks). */
export const BUILTIN_PLAYBOOKS = resolve(PACKAGE_ROOT, 'playbooks');

let version: string | undefined;

/** The version in the package's package.json (read once). */
export function packageVersion(): string {
  version ??= (JSON.parse(readFileSync(resolve(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  return version;
}
