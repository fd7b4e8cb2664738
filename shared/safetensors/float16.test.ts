import { describe, expect, it } from 'vitest';
import {
  bfloat16BitsToFloat32,
  float16BitsToFloat32,
  float16Table,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
} from './float16';

const hex = (h: number) => `0x${h.toString(16).padStart(4, '0')}`;

describe('float16', () => {
  it.each([
    [1, 0x3c00],
    [-2.5, 0xc100],
    [65504, 0x7bff], // largest finite
    [2 ** -24, 0x0001], // smallest subnormal
    [1023 * 2 ** -24, 0x03ff], // largest subnormal
    [2 ** -14, 0x0400], // smallest normal
    [0, 0x0000],
    [-0, 0x8000],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
  ])('encodes %d as %i and back', (x, bits) => {
    expect(hex(float32ToFloat16Bits(x))).toBe(hex(bits));
    expect(Object.is(float16BitsToFloat32(bits), x)).toBe(true);
  });

  it('encodes NaN as the quiet NaN and decodes every NaN pattern to NaN', () => {
    expect(hex(float32ToFloat16Bits(NaN))).toBe('0x7e00');
    for (const h of [0x7c01, 0x7e00, 0x7fff, 0xfc01, 0xfe00]) expect(float16BitsToFloat32(h)).toBeNaN();
  });

  it.each([
    [1 + 2 ** -11, 0x3c00], // halfway between 1 and the next value: to even (down)
    [1 + 3 * 2 ** -11, 0x3c02], // halfway, to even (up)
    [2049, 0x6800], // 2048 | 2050: to 2048
    [2051, 0x6802], // 2050 | 2052: to 2052
    [2 ** -25, 0x0000], // half the smallest subnormal: to zero
    [3 * 2 ** -25, 0x0002], // subnormal tie: to even
    [2 ** -25 * 1.0000001, 0x0001],
    [65519, 0x7bff],
    [65520, 0x7c00], // halfway to 65536: overflows to infinity
    [-65520, 0xfc00],
    [1e10, 0x7c00],
    [1e-10, 0x0000],
    [-1e-10, 0x8000],
    [1 + 2 ** -11 + 2 ** -40, 0x3c01], // a double is rounded once, not via float32
    [0.1, 0x2e66],
    [1 / 3, 0x3555],
  ])('rounds %d to %i', (x, bits) => {
    expect(hex(float32ToFloat16Bits(x))).toBe(hex(bits));
  });

  it('round-trips every non-NaN pattern', () => {
    for (let h = 0; h < 65536; h++) {
      const x = float16BitsToFloat32(h);
      if (Number.isNaN(x)) continue;
      if (float32ToFloat16Bits(x) !== h) expect(hex(float32ToFloat16Bits(x))).toBe(hex(h));
    }
  });

  it('builds a table that agrees with the scalar decoder', () => {
    const table = float16Table();
    for (let h = 0; h < 65536; h++) {
      const x = float16BitsToFloat32(h);
      if (!Object.is(table[h], x) && !(Number.isNaN(x) && Number.isNaN(table[h]))) expect(table[h]).toBe(x);
    }
  });

  it('matches a brute-force nearest-value reference on random floats and midpoints', () => {
    const encodeRef = nearestReference((h) => float16BitsToFloat32(h), 0x7bff, 65536);
    checkAgainstReference(float32ToFloat16Bits, encodeRef, 0x7bff, float16BitsToFloat32);
  });
});

describe('bfloat16', () => {
  it.each([
    [1, 0x3f80],
    [-2.5, 0xc020],
    [(2 - 2 ** -7) * 2 ** 127, 0x7f7f], // largest finite
    [2 ** -133, 0x0001], // smallest subnormal
    [2 ** -126, 0x0080], // smallest normal
    [-0, 0x8000],
    [Infinity, 0x7f80],
    [-Infinity, 0xff80],
  ])('encodes %d as %i and back', (x, bits) => {
    expect(hex(float32ToBfloat16Bits(x))).toBe(hex(bits));
    expect(Object.is(bfloat16BitsToFloat32(bits), x)).toBe(true);
  });

  it.each([
    [1 + 2 ** -8, 0x3f80], // tie: to even (down)
    [1 + 3 * 2 ** -8, 0x3f82], // tie: to even (up)
    [65504, 0x4780], // rounds up to 65536
    [3.4028234663852886e38, 0x7f80], // float32 max rounds to infinity
    [2 ** -134, 0x0000], // half the smallest subnormal: to zero
    [3 * 2 ** -134, 0x0002],
    [1e300, 0x7f80],
  ])('rounds %d to %i', (x, bits) => {
    expect(hex(float32ToBfloat16Bits(x))).toBe(hex(bits));
  });

  it('handles NaN', () => {
    expect(hex(float32ToBfloat16Bits(NaN))).toBe('0x7fc0');
    for (const h of [0x7f81, 0x7fc0, 0xffff]) expect(bfloat16BitsToFloat32(h)).toBeNaN();
  });

  it('round-trips every non-NaN pattern', () => {
    for (let h = 0; h < 65536; h++) {
      const x = bfloat16BitsToFloat32(h);
      if (Number.isNaN(x)) continue;
      if (float32ToBfloat16Bits(x) !== h) expect(hex(float32ToBfloat16Bits(x))).toBe(hex(h));
    }
  });

  it('matches the usual float32 bit trick on random float32 values', () => {
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    for (let i = 0; i < 200_000; i++) {
      u[0] = (Math.random() * 2 ** 32) >>> 0;
      if (Number.isNaN(f[0])) continue;
      const ref = ((u[0] + 0x7fff + ((u[0] >>> 16) & 1)) >>> 16) & 0xffff;
      if (float32ToBfloat16Bits(f[0]) !== ref) expect(hex(float32ToBfloat16Bits(f[0]))).toBe(hex(ref));
    }
  });

  it('matches a brute-force nearest-value reference on random floats and midpoints', () => {
    const encodeRef = nearestReference(bfloat16BitsToFloat32, 0x7f7f, 2 ** 128);
    checkAgainstReference(float32ToBfloat16Bits, encodeRef, 0x7f7f, bfloat16BitsToFloat32);
  });
});

/**
 * An encoder independent of the one under test: binary search over the sorted positive finite
 * values (bits 0..maxFinite), with infinity standing in as the next value `overflow`; ties to even.
 */
function nearestReference(decode: (h: number) => number, maxFinite: number, overflow: number) {
  const values = Array.from({ length: maxFinite + 2 }, (_, h) => (h === maxFinite + 1 ? overflow : decode(h)));
  return (x: number): number => {
    const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
    const a = Math.abs(x);
    if (a >= overflow) return sign | (maxFinite + 1);
    let lo = 0;
    let hi = maxFinite + 1; // values[lo] <= a < values[hi]
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (values[mid] <= a) lo = mid;
      else hi = mid;
    }
    const dLo = a - values[lo];
    const dHi = values[hi] - a;
    const h = dLo < dHi ? lo : dHi < dLo ? hi : lo % 2 === 0 ? lo : hi;
    return sign | h;
  };
}

function checkAgainstReference(
  encode: (x: number) => number,
  ref: (x: number) => number,
  maxFinite: number,
  decode: (h: number) => number,
) {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  const xs: number[] = [];
  for (let i = 0; i < 50_000; i++) {
    u[0] = (Math.random() * 2 ** 32) >>> 0;
    if (!Number.isNaN(f[0])) xs.push(f[0]);
    xs.push((Math.random() - 0.5) * 2 ** Math.floor(Math.random() * 60 - 40)); // doubles
    const h = Math.floor(Math.random() * maxFinite);
    xs.push((decode(h) + decode(h + 1)) / 2); // exact midpoints
    xs.push(-(decode(h) + decode(h + 1)) / 2);
  }
  for (const x of xs) {
    if (encode(x) !== ref(x)) expect(`${x}: ${hex(encode(x))}`).toBe(`${x}: ${hex(ref(x))}`);
  }
}
