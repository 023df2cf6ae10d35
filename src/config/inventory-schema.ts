import { z } from 'zod';

/** The longest wait in seconds a timer can take (see plan/duration.ts). */
const MAX_TIMER_SECONDS = 24 * 24 * 3600;

const scalar = z.union([z.string(), z.number(), z.boolean()]);

/**
 * A variable's value: a plain value, or `{ env: NAME }` read from bg's environment at plan time;
 * `secret: true` keeps it out of every plan, journal and output (see README, Secrets).
 */
export const varValue = z.union([
  scalar,
  z.object({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name'), secret: z.boolean().default(false) }).strict(),
  z.object({ value: scalar, secret: z.literal(true) }).strict(),
]);
export type VarValue = z.output<typeof varValue>;

// Names are used in templates (`{{ blue.dir }}`) and file names: keep them plain.
const name = z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, 'use letters, digits, _ and -');

export const envSchema = z
  .object({
    dir: z.string().min(1).describe('Directory the app runs in (absolute, or ~/ for the login user home)'),
    app: z.string().min(1).optional().describe('pm2 app name'),
    port: z.number().int().min(1).max(65535).optional().describe('Port the app listens on'),
    db: z.string().min(1).optional().describe('SQLite database, relative to dir unless absolute'),
    health: z.string().url().optional().describe('URL fetched from the host by the health action'),
    migrate: z.string().min(1).optional().describe('Command run in dir by the migrate action'),
    env_file: z.string().min(1).default('.env').describe('dotenv file, relative to dir unless absolute'),
  })
  .strict();

export const sshSchema = z
  .object({
    host: z.string().min(1).describe('Address or an alias from ~/.ssh/config'),
    port: z.number().int().min(1).max(65535).optional(),
    user: z.string().min(1).optional(),
    key: z.string().min(1).optional().describe('Private key file (~ expanded)'),
    fingerprint: z
      .string()
      .regex(/^SHA256:[A-Za-z0-9+/]+=*$/, 'expected SHA256:<base64> as printed by ssh-keygen -lf')
      .optional()
      .describe('Pinned host key fingerprint; replaces the known_hosts check'),
    // Bounded: a Node timer longer than 2^31-1 ms (~24.8 days) fires at once.
    connect_timeout: z.number().positive().max(MAX_TIMER_SECONDS, `at most ${MAX_TIMER_SECONDS} seconds (24 days)`).optional().describe('Seconds to wait for the connection'),
    command_timeout: z.number().positive().max(MAX_TIMER_SECONDS, `at most ${MAX_TIMER_SECONDS} seconds (24 days)`).optional().describe('Seconds any one command may run'),
  })
  .strict();

export const hostSchema = z
  .object({
    local: z.literal(true).optional().describe('Run on this machine, without SSH'),
    ssh: sshSchema.optional(),
    envs: z.record(name, envSchema).default({}),
    shared_db: z.string().min(1).optional(),
    backups: z
      .object({
        dir: z.string().min(1),
        keep: z.number().int().min(1).default(20),
      })
      .strict()
      .optional(),
    journal: z.string().min(1).default('~/.bg').describe('Directory on the host for journals and the lock'),
    vars: z.record(name, varValue).default({}),
    // A `:` would make one entry two directories in PATH (the value would stop being one path).
    path: z.array(z.string().min(1).regex(/^[^:]*$/, 'a directory for PATH cannot contain `:` (give each directory as its own entry)')).default([]).describe('Directories put in front of PATH for every command (e.g. where nvm put node)'),
    environment: z
      .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a variable name'), z.union([z.string(), z.number()]))
      .default({})
      .describe('Variables exported for every command on the host (e.g. PM2_HOME); sshd drops client-side variables'),
  })
  .strict();

/** Rules across fields, checked after the shape so that all problems are reported together. */
export function hostProblems(h: HostConfig): Array<{ field: string[]; message: string }> {
  if (!h.local && !h.ssh) return [{ field: [], message: 'a host needs `ssh:` or `local: true`' }];
  if (h.local && h.ssh) return [{ field: ['local'], message: '`local: true` and `ssh:` exclude each other' }];
  return [];
}

export const inventorySchema = z
  .object({
    hosts: z.record(name, hostSchema),
    groups: z.record(name, z.array(name).min(1)).default({}),
  })
  .strict();

export type EnvConfig = z.output<typeof envSchema>;
export type SshConfig = z.output<typeof sshSchema>;
export type HostConfig = z.output<typeof hostSchema>;
export type Inventory = z.output<typeof inventorySchema>;
