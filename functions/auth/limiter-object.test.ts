import { describe, expect, it } from 'vitest';
import type { DurableObjectStateLike } from '../fine-tuning/runtime';
import { takeRequest, TenantRateLimitObject } from './limiter-object';

/** An object's durable storage as the runtime keeps it across evictions: values survive, as copies. */
function storage(): DurableObjectStateLike {
  const values = new Map<string, string>();
  return {
    storage: {
      get: async <T>(key: string) => (values.has(key) ? (JSON.parse(values.get(key)!) as T) : undefined),
      put: async <T>(key: string, value: T) => void values.set(key, JSON.stringify(value)),
      setAlarm: async () => {
        throw new Error('the rate limiter sets no alarm');
      },
      deleteAlarm: async () => {
        throw new Error('the rate limiter sets no alarm');
      },
    },
  };
}

/** A namespace of real TenantRateLimit objects, one per name; `evict` drops a live object, keeping its storage. */
function namespace() {
  const states = new Map<string, DurableObjectStateLike>();
  const objects = new Map<string, TenantRateLimitObject>();
  return {
    idFromName: (name: string) => name,
    get: (id: unknown) => {
      const name = id as string;
      if (!states.has(name)) states.set(name, storage());
      if (!objects.has(name)) objects.set(name, new TenantRateLimitObject(states.get(name)!));
      const object = objects.get(name)!;
      return { fetch: (input: string, init?: RequestInit) => object.fetch(new Request(input, init)) };
    },
    evict: (name: string) => objects.delete(name),
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

  it('an evicted object resumes its window from storage instead of granting a fresh one', async () => {
    const ns = namespace();
    expect(await takeRequest(ns, 'tenant-e', 2)).toBe(0);
    ns.evict('tenant-e');
    expect(await takeRequest(ns, 'tenant-e', 2)).toBe(0);
    ns.evict('tenant-e');
    expect(await takeRequest(ns, 'tenant-e', 2)).toBeGreaterThan(59_000);
  });

  it('refuses a malformed request with 400, naming what it expects', async () => {
    const object = new TenantRateLimitObject(storage());
    for (const body of ['{"perMinute": 0}', '{"perMinute": 2, "extra": 1}', 'not json', '{}']) {
      const res = await object.fetch(new Request('https://rate-limit/take', { method: 'POST', body }));
      expect(res.status, body).toBe(400);
      expect(await res.json()).toEqual({ error: 'expected {"perMinute": a positive integer}' });
    }
  });
});
