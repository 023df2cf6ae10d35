import { existsSync } from 'node:fs';
import type { OperatorPlaybook } from '../run/rollback-secrets.js';
import { findPlaybook, loadPlaybook } from './load.js';

/**
 * The run's playbook on this machine, found as `bg run` finds it: ./playbooks/NAME.yaml, the
 * built-in, else the path the run recorded if it still holds a playbook of that name. The journal
 * names it; what bg reads is the operator's own file (see src/run/rollback-secrets.ts).
 */
export function operatorPlaybook(cwd = process.cwd()): OperatorPlaybook {
  return (recorded) => {
    const candidates: string[] = [];
    if (typeof recorded.name === 'string' && /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(recorded.name) && !/\.ya?ml$/.test(recorded.name)) {
      try {
        candidates.push(findPlaybook(recorded.name, cwd));
      } catch {
        // not found by name: try the recorded path
      }
    }
    if (typeof recorded.file === 'string' && recorded.file.startsWith('/') && /\.ya?ml$/.test(recorded.file) && existsSync(recorded.file)) candidates.push(recorded.file);
    for (const file of candidates) {
      try {
        const loaded = loadPlaybook(file);
        if (loaded.value.name === recorded.name) return { vars: loaded.value.vars, file };
      } catch {
        // unreadable or invalid: not the run's playbook
      }
    }
    return undefined;
  };
}
