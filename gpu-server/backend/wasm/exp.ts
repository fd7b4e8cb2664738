/**
 * e^y for four float32 lanes, as WebAssembly code for the kernels that need it (silu.ts, and the
 * decode attention's softmax): e^y = 2^n · p(r) with n = round(y·log₂e), r = y − n·ln 2 (ln 2 in
 * two parts, Cody–Waite, so r is exact) and p the degree-6 Taylor polynomial of e^r on
 * |r| ≤ ln2/2 (truncation < 2e-7 relative). y is clamped to [−87, 88] so that 2^n stays a normal
 * float32: e^y of anything below is ~1.6e-38, not 0.
 */
import { op, type frame } from './writer';

type Code = number[];

const LOG2E = 1.4426950408889634;
const LN2_HI = 0.693359375; // 355/512: n·LN2_HI is exact for |n| < 2^15
const LN2_LO = -2.12194440e-4; // ln 2 − LN2_HI
const TAYLOR = [1 / 720, 1 / 120, 1 / 24, 1 / 6, 1 / 2, 1, 1]; // e^r, highest power first

/** The locals exp works in, in whichever function's frame holds them. */
export type ExpLocals = Pick<ReturnType<typeof frame<'e' | 'n' | 's'>>, 'get' | 'set'>;

/** e ← e^e, with n and s as temporaries. */
export function expInPlace({ get, set }: ExpLocals): Code {
  const splat = op.f32x4Splat;
  // e ← clamp(e); n ← round(e·log₂e); e ← (e − n·LN2_HI) − n·LN2_LO (= r)
  const reduce = [
    ...set('e', get('e'), splat(-87), op.f32x4Max, splat(88), op.f32x4Min),
    ...set('n', get('e'), splat(LOG2E), op.f32x4Mul, op.f32x4Nearest),
    ...set('e', get('e'), get('n'), splat(LN2_HI), op.f32x4Mul, op.f32x4Sub, get('n'), splat(LN2_LO), op.f32x4Mul, op.f32x4Sub),
  ];
  // s ← p(r) by Horner; e ← p(r) · 2^n, 2^n built in the exponent bits: (n + 127) << 23
  const poly = [...set('s', splat(TAYLOR[0])), ...TAYLOR.slice(1).flatMap((c) => set('s', get('s'), get('e'), op.f32x4Mul, splat(c), op.f32x4Add))];
  const scaled = set('e', get('s'), get('n'), op.i32x4TruncSatF32x4S, op.i32x4Splat(127), op.i32x4Add, op.i32(23), op.i32x4Shl, op.f32x4Mul);
  return [...reduce, ...poly, ...scaled];
}
