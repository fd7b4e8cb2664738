import { describe, expect, it } from 'vitest';
import { BoundedCache } from './cache';

describe('BoundedCache', () => {
  it('evicts the least recently used beyond its size', () => {
    const c = new BoundedCache<number>(2, 1000);
    c.set('a', 1, 0);
    c.set('b', 2, 0);
    expect(c.get('a', 1)).toBe(1);
    c.set('c', 3, 2);
    expect(c.get('b', 3)).toBeUndefined();
    expect(c.get('a', 3)).toBe(1);
    expect(c.size).toBe(2);
  });

  it('expires entries after the TTL and deletes by predicate', () => {
    const c = new BoundedCache<number>(4, 1000);
    c.set('t1/x/v1', 1, 0);
    c.set('t2/x/v1', 2, 0);
    expect(c.get('t1/x/v1', 1001)).toBeUndefined();
    c.deleteWhere((k) => k.startsWith('t2/'));
    expect(c.get('t2/x/v1', 1)).toBeUndefined();
  });
});
