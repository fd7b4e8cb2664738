import { describe, expect, it } from 'vitest';
import { fromHalfBits, toHalfBits, writeHalf } from './half';

describe('f16 conversion', () => {
  it('round-trips every f16 value (NaNs stay NaN)', () => {
    const wrong: string[] = [];
    for (let h = 0; h < 0x10000; h++) {
      const v = fromHalfBits(h);
      const back = toHalfBits(v);
      if (Number.isNaN(v) ? !Number.isNaN(fromHalfBits(back)) : back !== h) wrong.push(`0x${h.toString(16)} → 0x${back.toString(16)}`);
    }
    expect(wrong).toEqual([]);
  });

  it('rounds to nearest, ties to even, with overflow to infinity and underflow to zero', () => {
    expect(fromHalfBits(toHalfBits(1 + 2 ** -11))).toBe(1); // tie: stays on the even 1.0
    expect(fromHalfBits(toHalfBits(1 + 3 * 2 ** -11))).toBe(1 + 2 ** -9); // tie: up to the even mantissa
    expect(fromHalfBits(toHalfBits(1 + 2 ** -11 + 2 ** -20))).toBe(1 + 2 ** -10); // past the tie
    expect(fromHalfBits(toHalfBits(65504))).toBe(65504);
    expect(fromHalfBits(toHalfBits(65520))).toBe(Infinity); // halfway past the largest finite
    expect(fromHalfBits(toHalfBits(-1e9))).toBe(-Infinity);
    expect(fromHalfBits(toHalfBits(2 ** -24))).toBe(2 ** -24); // smallest subnormal
    expect(fromHalfBits(toHalfBits(3 * 2 ** -26))).toBe(2 ** -24); // 0.75 of it rounds up
    expect(fromHalfBits(toHalfBits(2 ** -26))).toBe(0);
    expect(Object.is(fromHalfBits(toHalfBits(-1e-30)), -0)).toBe(true);
    expect(fromHalfBits(toHalfBits(0.1))).toBeCloseTo(0.1, 4);
  });

  it('writes an array', () => {
    const out = new Uint16Array(3);
    writeHalf(Float64Array.of(1, -2, 0.5), out);
    expect([...out]).toEqual([0x3c00, 0xc000, 0x3800]);
  });
});
