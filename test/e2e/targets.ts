import { sshClientEnv, startSshd, type SshdHandle } from '../harness/sshd.js';
import type { Sandbox } from '../harness/sandbox.js';

/** How a test reaches "the host": this machine directly, or the project's own sshd. */
export interface Target {
  name: string;
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** The inventory host block (YAML, indented under `hosts:`) named `hostName`. */
  hostYaml(hostName: string, body: string): string;
  /** Extra environment for the bg process (known_hosts, ssh config). */
  env(): Record<string, string>;
}

/** The envs, backups and journal of a sandbox, as host fields (4-space indent). */
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
  setup: async () => undefined,
  teardown: async () => undefined,
  hostYaml: (name, body) => `  ${name}:\n    local: true\n${body}`,
  env: () => ({}),
};

/** A real OpenSSH sshd on 127.0.0.1, logged into as an unprivileged user with a key file. */
export function sshTarget(opts: { user?: string } = {}): Target & { sshd(): SshdHandle } {
  let sshd: SshdHandle | undefined;
  return {
    name: 'ssh',
    sshd: () => sshd!,
    setup: async () => {
      sshd = await startSshd(opts);
    },
    teardown: async () => {
      await sshd?.stop();
    },
    hostYaml: (name, body) =>
      `  ${name}:\n    ssh: { host: 127.0.0.1, port: ${sshd!.port}, user: ${sshd!.user}, key: ${sshd!.clientKeyPath} }\n${body}`,
    env: () => sshClientEnv(sshd!.knownHostsPath),
  };
}
