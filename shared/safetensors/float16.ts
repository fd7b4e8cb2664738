/**
 * Scalar conversions between JS numbers and the bit patterns of IEEE half precision (F16) and
 * bfloat16 (BF16). Encoding rounds the given number (a double) once, to nearest with ties to even,
 * handling subnormals, overflow to ±Infinity, ±0 and NaN (encoded as the canonical quiet NaN).
 */

import { HOST_IS_LITTLE_ENDIAN } from './dtypes';

const f64 = new Float64Array(1);
const f64Words = new Uint32Array(f64.buffer);
const HI = HOST_IS_LITTLE_ENDIAN ? 1 : 0;

/**
 * Encodes x in a 16-bit binary float format with `m` mantissa bits and exponent bias `bias` (sign
 * in bit 15, exponent field of 15 - m bits), rounding the double's bits directly: the high word
 * holds sign, 11-bit exponent and the top 20 mantissa bits; the low word only feeds the sticky bit.
 */
function encode(x: number, m: number, bias: number, nan: number): number {
  if (x !== x) return nan;
  f64[0] = x;
  const hi = f64Words[HI];
  const lo = f64Words[1 - HI];
  const sign = (hi >>> 16) & 0x8000;
  const inf = (2 * bias + 1) << m;
  const e = ((hi >>> 20) & 0x7ff) - 1023; // -1023 for zero and double subnormals
  const k = 20 - m; // mantissa bits of the high word that a normal result drops
  let bits: number;
  let shift: number; // bits dropped from `sig`
  let sig: number;
  if (e >= 1 - bias) {
    if (e > bias) return sign | inf; // infinity, or beyond the largest finite value before rounding
    sig = hi & 0xfffff;
    shift = k;
    bits = ((e + bias) << m) | (sig >>> shift);
  } else {
    // Subnormal result: the significand with its implicit 1, shifted further right.
    const s = 1 - bias - e;
    if (s > m + 1) return sign; // below half the smallest subnormal
    sig = 0x100000 | (hi & 0xfffff);
    shift = k + s;
    bits = sig >>> shift;
  }
  const roundBit = (sig >>> (shift - 1)) & 1;
  const sticky = (sig & ((1 << (shift - 1)) - 1)) | lo;
  // Ties to even; a carry out of the mantissa correctly bumps the exponent (up to infinity).
  if (roundBit && (sticky || bits & 1)) bits++;
  return sign | Math.min(bits, inf);
}

/** The F16 bit pattern nearest to x (ties to even). */
export function float32ToFloat16Bits(x: number): number {
  return encode(x, 10, 15, 0x7e00);
}

/** The BF16 bit pattern nearest to x (ties to even). */
export function float32ToBfloat16Bits(x: number): number {
  return encode(x, 7, 127, 0x7fc0);
}

/** The value of an F16 bit pattern (exactly representable as a float32). */
export function float16BitsToFloat32(h: number): number {
  h &= 0xffff;
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

const bf16Scratch = new Float32Array(1);
const bf16ScratchBits = new Uint32Array(bf16Scratch.buffer);

/** The value of a BF16 bit pattern: the top half of a float32. */
export function bfloat16BitsToFloat32(h: number): number {
  bf16ScratchBits[0] = (h & 0xffff) << 16;
  return bf16Scratch[0];
}

let f16Table: Float32Array | undefined;

/** f16 bits → float32 for all 65536 patterns (256 KiB), built on first use. */
export function float16Table(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = float16BitsToFloat32(h);
  }
  return f16Table;
}
