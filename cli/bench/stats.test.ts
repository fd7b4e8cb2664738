import { describe, expect, it } from 'vitest';
import { fmt, median } from './stats';

describe('median', () => {
  it('odd, even, unsorted, empty; the input left as it was', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([5])).toBe(5);
    expect(median([])).toBeNaN();
    const xs = [3, 1, 2];
    median(xs);
    expect(xs).toEqual([3, 1, 2]); // not sorted in place
  });
});

describe('fmt', () => {
  it('rounds to the digits asked for and spells out what is not finite', () => {
    expect(fmt(1.23456)).toBe('1.23');
    expect(fmt(2, 0)).toBe('2');
    expect(fmt(NaN)).toBe('NaN');
    expect(fmt(-Infinity, 1)).toBe('-Infinity');
  });
});
