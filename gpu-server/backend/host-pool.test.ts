import { describe, expect, it } from 'vitest';
import { HostPool } from './host-pool';

describe('HostPool', () => {
  it('hands back a given array for the same length only, and a new one otherwise', () => {
    const pool = new HostPool(1 << 20);
    const a = pool.take(100);
    a.fill(7);
    pool.give(a);
    expect(pool.bytes).toBe(400);
    expect(pool.take(99)).not.toBe(a);
    const again = pool.take(100);
    expect(again).toBe(a);
    expect(again[0]).toBe(7); // contents are not cleared: every user writes all of it
    expect(pool.bytes).toBe(0);
    expect(pool.take(100)).not.toBe(a);
  });

  it('refuses views and an array given twice, which would be handed to two users at once', () => {
    const pool = new HostPool(1 << 20);
    const a = pool.take(64);
    expect(() => pool.give(a.subarray(8))).toThrow(/view/);
    expect(() => pool.give(a.subarray(0, 32))).toThrow(/view/);
    pool.give(a);
    expect(() => pool.give(a)).toThrow(/given twice/);
    expect(pool.take(64)).toBe(a);
    pool.give(a); // taken again, it may be given again
    expect(pool.bytes).toBe(256);
  });

  it('drops a length never taken before one taken long ago', () => {
    const pool = new HostPool(4 * 250);
    const old = pool.take(120);
    pool.give(old);
    expect(pool.take(120)).toBe(old); // length 120: taken once, and in the pool first
    pool.give(old);
    pool.give(new Float32Array(100)); // length 100: never taken
    pool.give(new Float32Array(100)); // 320 floats: one of length 100 goes
    expect(pool.bytes).toBe(4 * 220);
    expect(pool.take(120)).toBe(old);
  });

  it('stays within maxBytes by dropping arrays of the length taken least recently', () => {
    const pool = new HostPool(4 * 300);
    const [x, y, z] = [pool.take(100), pool.take(150), pool.take(100)];
    pool.give(x);
    pool.give(y);
    expect(pool.take(100)).toBe(x); // length 100 is now the more recently taken one
    pool.give(x);
    pool.give(z); // 350 floats: over by 50, so length 150 goes
    expect(pool.bytes).toBe(4 * 200);
    expect(pool.take(150)).not.toBe(y);
    expect([pool.take(100), pool.take(100)]).toEqual(expect.arrayContaining([x, z]));
    const huge = new Float32Array(1000);
    pool.give(huge); // larger than the whole pool: left to the garbage collector
    expect(pool.bytes).toBe(0);
    expect(pool.take(1000)).not.toBe(huge);
  });
});
