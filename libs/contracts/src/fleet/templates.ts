import { z } from 'zod';
import { text } from '../text';
import { checkRules } from './variable-rules';

export const templateVariableSchema = z.object({
  name: text().min(1).max(64).regex(/^[A-Z_][A-Z0-9_]*$/, 'UPPER_SNAKE_CASE'),
  default: text().max(4096).default(''),
  rules: text().max(1024).default('nullable|string'),
  description: text().max(1024).optional(),
  /** Whether owners may change it (Pterodactyl's user_editable). @default true */
  user_editable: z.boolean().optional(),
});
export type TemplateVariable = z.infer<typeof templateVariableSchema>;

export const limitsSchema = z.object({
  memory_mb: z.number().int().min(0).max(1024 * 1024),
  cpu_percent: z.number().int().min(0).max(100 * 256),
  disk_mb: z.number().int().min(0).max(1024 * 1024 * 64),
});
export type Limits = z.infer<typeof limitsSchema>;

export const stopPolicySchema = z
  .object({
    command: text().max(256).optional(),
    signal: z.enum(['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGKILL', 'SIGUSR1', 'SIGUSR2']).optional(),
    timeout_s: z.number().int().min(0).max(3600).default(10),
  })
  .default({ signal: 'SIGTERM', timeout_s: 10 });

export const restartPolicySchema = z
  .object({
    /** Restart after an unexpected exit. @default false */
    on_crash: z.boolean().default(false),
    /** Give up after this many restarts in a row. @default 5 */
    max_attempts: z.number().int().min(0).max(100).default(5),
    /** First back-off; doubled for each attempt. @default 1000 */
    backoff_ms: z.number().int().min(0).max(600_000).default(1000),
  })
  .default({ on_crash: false, max_attempts: 5, backoff_ms: 1000 });

/**
 * A startup line: shell text run as `sh -c` by the agent, in which `{{VAR}}` renders as a reference to
 * the environment variable (`renderStartup`), never as the value. The template's and a server's
 * override (`PATCH /servers/:id {startup}`) are checked by this one schema.
 */
export const startupSchema = text().min(1).max(8192);

const templateFields = {
  name: text().min(1).max(100),
  description: text().max(2000).optional(),
  driver: z.enum(['docker', 'process']),
  image: text().max(255).optional(),
  startup: startupSchema,
  /** Whether a server's owner may change its startup line (`PATCH /servers/:id {startup}`); holders of `servers.manage` always may. @default false */
  startup_editable: z.boolean().optional(),
  variables: z.array(templateVariableSchema).max(64).default([]),
  stop: stopPolicySchema,
  /** A console line matching this regex marks the server running. */
  ready_pattern: text().max(512).optional(),
  install_script: text().max(65536).optional(),
  limits: limitsSchema.default({ memory_mb: 512, cpu_percent: 100, disk_mb: 1024 }),
  restart: restartPolicySchema,
};

function refineTemplate(t: { driver?: string; image?: string; variables?: TemplateVariable[]; ready_pattern?: string }, ctx: z.RefinementCtx) {
  if (t.driver === 'docker' && !t.image) ctx.addIssue({ code: 'custom', path: ['image'], message: 'the docker driver needs an image' });
  const names = new Set<string>();
  for (const [i, v] of (t.variables ?? []).entries()) {
    if (names.has(v.name)) ctx.addIssue({ code: 'custom', path: ['variables', i, 'name'], message: `duplicate variable ${v.name}` });
    names.add(v.name);
    for (const problem of checkRules(v.name, v.rules)) ctx.addIssue({ code: 'custom', path: ['variables', i, 'rules'], message: problem.message });
  }
  if (t.ready_pattern) {
    try {
      new RegExp(t.ready_pattern);
    } catch {
      ctx.addIssue({ code: 'custom', path: ['ready_pattern'], message: 'not a valid regular expression' });
    }
  }
}

/** `POST /templates` */
export const createTemplateSchema = z.object(templateFields).superRefine(refineTemplate);
export type CreateTemplate = z.infer<typeof createTemplateSchema>;

/** `PATCH /templates/:id` */
export const updateTemplateSchema = z
  .object({
    name: templateFields.name.optional(),
    description: templateFields.description,
    image: templateFields.image,
    startup: templateFields.startup.optional(),
    startup_editable: templateFields.startup_editable,
    variables: z.array(templateVariableSchema).max(64).optional(),
    stop: z.object({ command: text().max(256).optional(), signal: text().optional(), timeout_s: z.number().int().min(0).max(3600) }).optional(),
    ready_pattern: templateFields.ready_pattern,
    install_script: templateFields.install_script,
    limits: limitsSchema.optional(),
    restart: z.object({ on_crash: z.boolean(), max_attempts: z.number().int().min(0).max(100), backoff_ms: z.number().int().min(0).max(600_000) }).optional(),
  })
  .superRefine(refineTemplate);
export type UpdateTemplate = z.infer<typeof updateTemplateSchema>;

/** A template as REST answers it. */
export interface TemplateView {
  id: string;
  name: string;
  description?: string;
  driver: 'docker' | 'process';
  image?: string;
  startup: string;
  /** Whether a server's owner may change its startup line (absent: no). */
  startup_editable?: boolean;
  variables: TemplateVariable[];
  stop: { command?: string; signal?: string; timeout_s: number };
  ready_pattern?: string;
  install_script?: string;
  limits: Limits;
  restart: { on_crash: boolean; max_attempts: number; backoff_ms: number };
  builtIn: boolean;
  version: number;
}
