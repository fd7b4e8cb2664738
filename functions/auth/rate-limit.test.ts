import { describe, expect, it } from 'vitest';
import { RateLimiter } from './rate-limit';

describe('RateLimiter', () => {
  it('allows perMinute requests per window per key, then says how long to wait', () => {
    const r = new RateLimiter();
    expect(r.take('a', 2, 1000)).toBe(0);
    expect(r.take('a', 2, 2000)).toBe(0);
    expect(r.take('a', 2, 3000)).toBe(58_000);
    expect(r.take('b', 2, 3000)).toBe(0);
    expect(r.take('a', 2, 61_000)).toBe(0);
  });
});
