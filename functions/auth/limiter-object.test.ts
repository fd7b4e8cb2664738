import { describe, expect, it } from 'vitest';
import { takeRequest, TenantRateLimitObject } from './limiter-object';

/** A namespace of real TenantRateLimit objects, one per name, as the runtime keeps them. */
function namespace() {
  const objects = new Map<string, TenantRateLimitObject>();
  return {
    idFromName: (name: string) => name,
    get: (id: unknown) => {
      const name = id as string;
      if (!objects.has(name)) objects.set(name, new TenantRateLimitObject());
      const object = objects.get(name)!;
      return { fetch: (input: string, init?: RequestInit) => object.fetch(new Request(input, init)) };
    },
  };
}

describe('TenantRateLimit', () => {
  it('counts every caller of one tenant against one window, and tenants apart', async () => {
    const ns = namespace();
    // Two "isolates" share the tenant's object: the third request is refused whichever sends it.
    expect(await takeRequest(ns, 'tenant-a', 2)).toBe(0);
    expect(await takeRequest(ns, 'tenant-a', 2)).toBe(0);
    const wait = await takeRequest(ns, 'tenant-a', 2);
    expect(wait).toBeGreaterThan(59_000);
    expect(wait).toBeLessThanOrEqual(60_000);
    expect(await takeRequest(ns, 'tenant-b', 2)).toBe(0);
  });

  it('refuses a malformed request with 400, naming what it expects', async () => {
    const object = new TenantRateLimitObject();
    for (const body of ['{"perMinute": 0}', '{"perMinute": 2, "extra": 1}', 'not json', '{}']) {
      const res = await object.fetch(new Request('https://rate-limit/take', { method: 'POST', body }));
      expect(res.status, body).toBe(400);
      expect(await res.json()).toEqual({ error: 'expected {"perMinute": a positive integer}' });
    }
  });
});
