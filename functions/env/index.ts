/**
 * The edge's configuration: wrangler.toml [vars] and secrets, declared once here and validated
 * with zod on first use, so a misconfigured deployment fails with the variable's name (never
 * its value) instead of misbehaving later.
 */
import { z } from 'zod';
import { describeIssues } from '../../shared/protocol/messages';
import type { DurableObjectNamespaceLike } from '../fine-tuning/runtime';

/** The Worker's vars and secrets, exactly as wrangler.toml and `wrangler secret put` provide them. */
export interface EnvVars {
  /** One or more base-model server URLs (ws:// or wss://), comma-separated. */
  BASE_MODEL_URLS: string;
  S3_ENDPOINT: string;
  S3_BUCKET: string;
  S3_REGION: string;
  /** Defaults for new tenants; each tenant may carry its own. */
  MAX_ADAPTERS?: string;
  MAX_ADAPTER_BYTES?: string;
  REQUESTS_PER_MINUTE?: string;
  MAX_ADAPTER_RANK?: string;
  // Secrets:
  /** 32 random bytes, base64: the root of every tenant's encryption key. */
  MASTER_KEY: string;
  ADMIN_TOKEN: string;
  /** Shared with the base-model server, which verifies the session tokens the edge signs. */
  SESSION_SECRET: string;
  S3_ACCESS_KEY_ID: string;
  S3_SECRET_ACCESS_KEY: string;
}

/** All the Worker's bindings. */
export interface Env extends EnvVars {
  /** Durable Objects: one per hosted fine-tuning job. */
  FINE_TUNING_JOBS: DurableObjectNamespaceLike;
  /** Durable Objects: one request counter per tenant (auth/limiter-object.ts). */
  TENANT_RATE_LIMITS: DurableObjectNamespaceLike;
}

const count = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const base64Key = z.string().refine((s) => {
  try {
    return atob(s).length === 32;
  } catch {
    return false;
  }
}, 'must be 32 random bytes, base64-encoded (e.g. `openssl rand -base64 32`)');

const ConfigSchema = z.object({
  BASE_MODEL_URLS: z
    .string()
    .transform((s) => s.split(',').map((u) => u.trim()).filter(Boolean))
    .pipe(z.array(z.string().regex(/^wss?:\/\//, 'each base-model URL must start with ws:// or wss://')).min(1)),
  S3_ENDPOINT: z.url(),
  S3_BUCKET: z.string().min(1),
  S3_REGION: z.string().min(1),
  MAX_ADAPTERS: count(100),
  MAX_ADAPTER_BYTES: count(64 * 1024 * 1024),
  REQUESTS_PER_MINUTE: count(600),
  MAX_ADAPTER_RANK: count(64),
  MASTER_KEY: base64Key,
  ADMIN_TOKEN: z.string().min(32, 'must be at least 32 characters'),
  SESSION_SECRET: z.string().min(16, 'must be at least 16 characters'),
  S3_ACCESS_KEY_ID: z.string().min(1),
  S3_SECRET_ACCESS_KEY: z.string().min(1),
});

export type Config = z.infer<typeof ConfigSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function parseConfig(env: EnvVars): Config {
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success) throw new ConfigError(`the edge is misconfigured: ${describeIssues(parsed.error)}`);
  return parsed.data;
}
