/** The admin API's bodies and answers (ADMIN_TOKEN as Bearer): tenants and their API keys. */
import { z } from 'zod';

export const QuotasSchema = z.strictObject({
  /** Adapter names a tenant may hold (each may have many versions). */
  maxAdapters: z.number().int().positive(),
  /** Largest upload: adapter_config.json + adapter_model.safetensors, bytes. */
  maxAdapterBytes: z.number().int().positive(),
  requestsPerMinute: z.number().int().positive(),
});
export type Quotas = z.infer<typeof QuotasSchema>;

export const CreateTenantSchema = z.strictObject({
  name: z.string().trim().min(1).max(100),
  quotas: QuotasSchema.partial().optional(),
});
export type CreateTenant = z.infer<typeof CreateTenantSchema>;

export const ApiKeyInfoSchema = z.strictObject({
  id: z.string(),
  createdAt: z.string(),
  revokedAt: z.string().optional(),
});
export type ApiKeyInfo = z.infer<typeof ApiKeyInfoSchema>;

export const TenantSchema = z.strictObject({
  id: z.string(),
  name: z.string(),
  createdAt: z.string(),
  disabled: z.boolean(),
  quotas: QuotasSchema,
  keys: z.array(ApiKeyInfoSchema),
});
export type Tenant = z.infer<typeof TenantSchema>;

/** POST /admin/tenants and POST /admin/tenants/{id}/keys: the key is shown this once. */
export interface IssuedKey {
  tenant: Tenant;
  apiKey: string;
  keyId: string;
}
