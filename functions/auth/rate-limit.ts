/**
 * A per-tenant fixed one-minute window, counted in this isolate. Workers may run several
 * isolates, so a tenant's effective limit is per isolate; a Durable Object counter would make
 * it global at the price of a round trip per request.
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
