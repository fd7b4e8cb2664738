import { describe, expect, it } from 'vitest';
import { takeRequestAt, type RateWindow } from './rate-limit';

describe('takeRequestAt', () => {
  it('allows perMinute requests per window, then says how long to wait, and starts afresh after a minute', () => {
    let w: RateWindow | undefined;
    const take = (now: number) => {
      const r = takeRequestAt(w, 2, now);
      w = r.window;
      return r.waitMs;
    };
    expect(take(1000)).toBe(0);
    expect(take(2000)).toBe(0);
    expect(take(3000)).toBe(58_000);
    expect(w).toEqual({ start: 1000, count: 2 });
    expect(take(61_000)).toBe(0);
    expect(w).toEqual({ start: 61_000, count: 1 });
  });

  it('does not change the window it is given', () => {
    const w = { start: 0, count: 1 };
    takeRequestAt(w, 5, 10);
    expect(w).toEqual({ start: 0, count: 1 });
  });
});
