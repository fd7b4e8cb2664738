/**
 * One tenant's request counter: a Durable Object named by the tenant id, so all of a tenant's
 * requests, whichever isolate or location serves them, count against one window (a counter per
 * isolate let a tenant through once per isolate). The window lives in memory: an object that
 * is evicted starts a fresh one, which errs toward letting requests through, never toward
 * refusing them. One round trip per request is the price.
 */
import { z } from 'zod';
import type { DurableObjectNamespaceLike } from '../fine-tuning/runtime';
import { RateLimiter } from './rate-limit';

const TakeSchema = z.object({ perMinute: z.number().int().positive() }).strict();

export class TenantRateLimitObject {
  private readonly limiter = new RateLimiter();

  async fetch(request: Request): Promise<Response> {
    const body = TakeSchema.safeParse(await request.json().catch(() => undefined));
    if (!body.success) return Response.json({ error: 'expected {"perMinute": a positive integer}' }, { status: 400 });
    return Response.json({ waitMs: this.limiter.take('tenant', body.data.perMinute, Date.now()) });
  }
}

/** Milliseconds the tenant must wait (0: go ahead), counting this request, from its object. */
export async function takeRequest(ns: DurableObjectNamespaceLike, tenantId: string, perMinute: number): Promise<number> {
  const res = await ns.get(ns.idFromName(tenantId)).fetch('https://rate-limit/take', { method: 'POST', body: JSON.stringify({ perMinute }) });
  if (!res.ok) throw new Error(`rate limiter answered ${res.status}`);
  return ((await res.json()) as { waitMs: number }).waitMs;
}
