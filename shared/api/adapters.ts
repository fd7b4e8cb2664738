/** The adapter store's answers: what a tenant sees of its adapters (never the weights, except on download). */
import { z } from 'zod';

/** Adapter names are the `model` field of inference requests: a short, URL-safe label. */
export const AdapterNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'adapter names are 1–64 characters: letters, digits, ".", "_", "-", starting with a letter or digit');

export const AdapterVersionSchema = z.strictObject({
  name: z.string(),
  version: z.string(),
  type: z.enum(['LORA', 'DORA', 'IA3', 'PROMPT_TUNING']),
  rank: z.number().int().nullable(),
  targetModules: z.array(z.string()),
  bytes: z.number().int(),
  sha256: z.string(),
  createdAt: z.string(),
});
export type AdapterVersion = z.infer<typeof AdapterVersionSchema>;

export interface AdapterInfo extends AdapterVersion {
  versions: string[];
}
