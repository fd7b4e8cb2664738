/**
 * IEEE 754 half precision for weights kept as f16 on the device (Node 20 has no Float16Array).
 * Rounding is to nearest, ties to even, like a GPU's f32→f16 conversion; out-of-range values
 * become ±infinity and NaN stays NaN.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The f16 bit pattern nearest to v. */
export function toHalfBits(v: number): number {
  f32[0] = v;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15; // the f16 exponent field
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) return sign | subnormal(mant | 0x800000, 14 - e);
  // A carry out of the mantissa moves into the exponent, which is the correct rounding.
  return sign | roundShift((e << 23) | mant, 13);
}

/** (1.mant as an integer) · 2^-shift rounded to a subnormal f16 mantissa; 0 below half the smallest. */
function subnormal(full: number, shift: number): number {
  return shift > 24 ? 0 : roundShift(full, shift);
}

/** value >> shift, rounded to nearest, ties to even. */
function roundShift(value: number, shift: number): number {
  const kept = value >>> shift;
  const rest = value & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  return rest > halfway || (rest === halfway && (kept & 1) === 1) ? kept + 1 : kept;
}

/** The value of an f16 bit pattern. */
export function fromHalfBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Writes values as f16 into out (same length). */
export function writeHalf(values: ArrayLike<number>, out: Uint16Array): void {
  for (let i = 0; i < values.length; i++) out[i] = toHalfBits(values[i]);
}
