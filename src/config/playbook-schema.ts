import { z } from 'zod';
import { varValue } from './inventory-schema.js';

export const stepSchema = z
  .object({
    name: z.string({ error: 'every step needs a `name`' }).min(1, 'every step needs a `name`'),
    action: z.string({ error: 'every step needs an `action`' }).min(1),
    env: z.string().min(1).optional().describe('The env the step acts on (blue, green, ...)'),
    envs: z
      .union([z.array(z.string().min(1)).min(1), z.string().min(1)])
      .optional()
      .describe('Run the step once per env, in order: a list, or a template such as "{{ vars.envs }}" giving names separated by commas or spaces'),
    with: z.record(z.string(), z.unknown()).default({}).describe('Parameters of the action'),
  })
  .strict()
  .refine((s) => !(s.env && s.envs), { message: '`env` and `envs` exclude each other' });

export const playbookSchema = z
  .object({
    name: z.string().min(1),
    description: z.string().optional(),
    // A null default makes the variable required: `--var NAME=value` must give it.
    vars: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), varValue.nullable()).default({}),
    steps: z.array(stepSchema).min(1, 'a playbook needs at least one step'),
  })
  .strict();

export type StepConfig = z.output<typeof stepSchema>;
export type Playbook = z.output<typeof playbookSchema>;
