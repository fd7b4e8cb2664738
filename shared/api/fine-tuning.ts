/**
 * Hosted fine-tuning, OpenAI-compatible: files (purpose "fine-tune") and fine-tuning jobs. One
 * Symbiosis extension, `adapter`, says what to train (OpenAI's API has no such choice); the
 * default is a rank-8 LoRA on q_proj and v_proj.
 */
import { z } from 'zod';

const auto = <T extends z.ZodType>(schema: T) => z.union([z.literal('auto'), schema]);

export const HyperparametersSchema = z.strictObject({
  n_epochs: auto(z.number().int().min(1).max(100)).optional(),
  batch_size: auto(z.number().int().min(1).max(64)).optional(),
  learning_rate_multiplier: auto(z.number().gt(0).max(100)).optional(),
});

export const AdapterSpecSchema = z.strictObject({
  type: z.enum(['lora', 'dora', 'ia3', 'prompt']).default('lora'),
  rank: z.number().int().min(1).max(256).default(8),
  alpha: z.number().positive().optional(),
  target_modules: z.array(z.string()).min(1).optional(),
  virtual_tokens: z.number().int().min(1).max(256).default(8),
});
export type AdapterSpecRequest = z.infer<typeof AdapterSpecSchema>;

export const CreateJobSchema = z.strictObject({
  model: z.string().min(1),
  training_file: z.string().min(1),
  validation_file: z.string().min(1).optional(),
  hyperparameters: HyperparametersSchema.optional(),
  method: z
    .strictObject({
      type: z.literal('supervised'),
      supervised: z.strictObject({ hyperparameters: HyperparametersSchema.optional() }).optional(),
    })
    .optional(),
  suffix: z.string().regex(/^[a-z0-9-]{1,24}$/, 'lowercase letters, digits and "-", at most 24').optional(),
  seed: z.number().int().min(0).max(2 ** 31 - 1).optional(),
  adapter: AdapterSpecSchema.optional(),
});
export type CreateJob = z.infer<typeof CreateJobSchema>;

export interface FileObject {
  id: string;
  object: 'file';
  bytes: number;
  created_at: number;
  filename: string;
  purpose: 'fine-tune';
}

export type JobStatus = 'validating_files' | 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface FineTuningJob {
  id: string;
  object: 'fine_tuning.job';
  created_at: number;
  finished_at: number | null;
  model: string;
  fine_tuned_model: string | null;
  organization_id: string;
  status: JobStatus;
  training_file: string;
  validation_file: string | null;
  hyperparameters: { n_epochs: number; batch_size: number; learning_rate_multiplier: number };
  trained_tokens: number | null;
  error: { code: string; message: string; param: string | null } | null;
  seed: number;
  result_files: string[];
  estimated_finish: number | null;
  integrations: [];
  metadata: null;
  /** Symbiosis: what is trained, and progress. */
  adapter: AdapterSpecRequest;
  total_steps: number;
  completed_steps: number;
}

export interface JobEvent {
  id: string;
  object: 'fine_tuning.job.event';
  created_at: number;
  level: 'info' | 'warn' | 'error';
  message: string;
  type: 'message' | 'metrics';
  data?: Record<string, number>;
}
