/**
 * One tenant's request counter: a Durable Object named by the tenant id, so all of a tenant's
 * requests, whichever isolate or location serves them, count against one window (a counter per
 * isolate let a tenant through once per isolate). The window is kept in the object's storage as
 * well as in memory, so an object that is evicted and recreated mid-minute resumes its count
 * rather than granting a fresh window. One round trip per request is the price (the storage
 * write completes before the answer leaves; the runtime's input gate keeps requests in order).
 */
import { z } from 'zod';
import type { DurableObjectNamespaceLike, DurableObjectStateLike } from '../fine-tuning/runtime';
import { takeRequestAt, type RateWindow } from './rate-limit';

const TakeSchema = z.object({ perMinute: z.number().int().positive() }).strict();
const WINDOW_KEY = 'window';

export class TenantRateLimitObject {
  private window?: RateWindow;

  constructor(private readonly state: DurableObjectStateLike) {}

  async fetch(request: Request): Promise<Response> {
    const body = TakeSchema.safeParse(await request.json().catch(() => undefined));
    if (!body.success) return Response.json({ error: 'expected {"perMinute": a positive integer}' }, { status: 400 });
    const before = this.window ?? (await this.state.storage.get<RateWindow>(WINDOW_KEY));
    const { window, waitMs } = takeRequestAt(before, body.data.perMinute, Date.now());
    this.window = window;
    if (window !== before) await this.state.storage.put(WINDOW_KEY, window);
    return Response.json({ waitMs });
  }
}

/** Milliseconds the tenant must wait (0: go ahead), counting this request, from its object. */
export async function takeRequest(ns: DurableObjectNamespaceLike, tenantId: string, perMinute: number): Promise<number> {
  const res = await ns.get(ns.idFromName(tenantId)).fetch('https://rate-limit/take', { method: 'POST', body: JSON.stringify({ perMinute }) });
  if (!res.ok) throw new Error(`rate limiter answered ${res.status}`);
  return ((await res.json()) as { waitMs: number }).waitMs;
}
