/**
 * A fixed one-minute window. The edge keeps one per tenant inside that tenant's TenantRateLimit
 * Durable Object (limiter-object.ts), so every isolate and location counts against the same
 * window, and the object stores it, so an evicted object resumes it.
 */
const WINDOW_MS = 60_000;

export interface RateWindow {
  /** ms since the epoch when the window began */
  start: number;
  /** requests counted in it */
  count: number;
}

/**
 * Counts one request in `window` (none yet: a fresh one) at `now`: the window to keep, and 0 if
 * the request may go ahead, else the milliseconds until the window resets.
 */
export function takeRequestAt(window: RateWindow | undefined, perMinute: number, now: number): { window: RateWindow; waitMs: number } {
  const w = !window || now - window.start >= WINDOW_MS ? { start: now, count: 0 } : window;
  if (w.count >= perMinute) return { window: w, waitMs: w.start + WINDOW_MS - now };
  return { window: { start: w.start, count: w.count + 1 }, waitMs: 0 };
}
