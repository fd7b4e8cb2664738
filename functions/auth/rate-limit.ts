/**
 * A fixed one-minute window per key. The edge keeps one per tenant inside that tenant's
 * TenantRateLimit Durable Object (limiter-object.ts), so every isolate and location counts
 * against the same window.
 */
const WINDOW_MS = 60_000;

export class RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  /** Counts one request; returns 0 if allowed, else the milliseconds until the window resets. */
  take(key: string, perMinute: number, now: number): number {
    let w = this.windows.get(key);
    if (!w || now - w.start >= WINDOW_MS) {
      w = { start: now, count: 0 };
      this.windows.set(key, w);
    }
    if (w.count >= perMinute) return w.start + WINDOW_MS - now;
    w.count++;
    return 0;
  }
}
