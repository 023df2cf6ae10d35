import type { Sandbox } from '../harness/sandbox.js';

/** How a test reaches "the host": this machine directly, or the project's own sshd. */
export interface Target {
  name: string;
  /** The inventory host block (YAML, indented under `hosts:`) for a sandbox. */
  hostYaml(sb: Sandbox, healthUrl: string): string;
  /** Extra environment for the bg process (known_hosts, keys). */
  env(): Record<string, string>;
}

export function envsYaml(sb: Sandbox, healthUrl: string): string {
  return `    envs:
      blue: { dir: ${sb.blue.dir}, db: database.db, health: "${healthUrl}" }
      green: { dir: ${sb.green.dir}, db: database.db, health: "${healthUrl}" }
    backups: { dir: ${sb.root}/backups, keep: 3 }
    journal: ${sb.root}/journal
`;
}

export const localTarget: Target = {
  name: 'local',
  hostYaml: (sb, url) => `  box:\n    local: true\n${envsYaml(sb, url)}`,
  env: () => ({}),
};
