import { describe, expect, it } from 'vitest';
import { median } from './stats';

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
