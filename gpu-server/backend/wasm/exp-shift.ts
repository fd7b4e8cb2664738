/**
 * The training loss's exponentials (../loss.ts) in WebAssembly SIMD: for one row of logits,
 * dst[i] = e^(src[i] − shift) rounded to float32, and Σ e^(src[i] − shift) in float64. The loss
 * spent ~10 ns a logit in Math.exp — 4.5 % of a training server's main thread at a 32k
 * vocabulary; 5.5 ns here, copies and scaling included — and it is the quantity the finite-difference checks differentiate, so this stays
 * in float64 (unlike exp.ts, the float32 exponential of SiLU and attention):
 *
 *   e^t = 2ⁿ · p(r),  n = round(t·log₂e),  r = t − n·ln2 (Cody–Waite: ln 2 in two parts, the high
 *   one with 32 trailing zero bits, so n·LN2_HI is exact), p the degree-12 Taylor polynomial of
 *   e^r on |r| ≤ ln2/2 (truncation < 2e-16 relative; degree 11 fails the tests), 2ⁿ built in
 *   the exponent bits.
 *
 * t is clamped to [−708, 709] so that 2ⁿ stays a normal float64: a logit more than 708 below the
 * row's maximum contributes 3e-308 instead of less to a sum that is at least 1. The last n mod 4
 * elements are Math.exp's.
 */
import { frame, I32, op, scratchKernel, V128, whileNot, type WasmFunction } from './writer';

const LOG2E = 1.4426950408889634;
const LN2_HI = 6.93147180369123816490e-1;
const LN2_LO = 1.90821492927058770002e-10;
/** 1/12!, 1/11!, …, 1/2!, 1, 1: e^r by Horner, highest power first. */
const TAYLOR = Array.from({ length: 13 }, (_, k) => 12 - k).map((k) => 1 / factorial(k));

function factorial(k: number): number {
  return k <= 1 ? 1 : k * factorial(k - 1);
}

/** The locals of two float64 pairs in flight: e (the value), n and s (exp64's temporaries). */
export type Lane = 'e0' | 'n0' | 's0' | 'e1' | 'n1' | 's1';
/** Where exp64's locals live, in whichever function's frame holds them. */
export type Exp64Locals = Pick<ReturnType<typeof frame<Lane>>, 'get' | 'set'>;

/** e ← e^e for the two float64 lanes of local e (n and s temporaries). */
export function exp64({ get, set }: Exp64Locals, e: Lane, n: Lane, s: Lane): number[] {
  const splat = op.f64x2Splat;
  return [
    // e ← clamp(e); n ← round(e·log₂e); e ← (e − n·LN2_HI) − n·LN2_LO (= r)
    ...set(e, get(e), splat(-708), op.f64x2Max, splat(709), op.f64x2Min),
    ...set(n, get(e), splat(LOG2E), op.f64x2Mul, op.f64x2Nearest),
    ...set(e, get(e), get(n), splat(LN2_HI), op.f64x2Mul, op.f64x2Sub, get(n), splat(LN2_LO), op.f64x2Mul, op.f64x2Sub),
    // s ← p(r); e ← p(r)·2ⁿ, 2ⁿ as the bits (n + 1023) << 52
    ...set(s, splat(TAYLOR[0])),
    ...TAYLOR.slice(1).flatMap((c) => set(s, get(s), get(e), op.f64x2Mul, splat(c), op.f64x2Add)),
    ...set(e, get(s), get(n), op.i32x4TruncSatF64x2SZero, op.i64x2ExtendLowI32x4S, op.i64x2Splat(1023), op.i64x2Add, op.i32(52), op.i64x2Shl, op.f64x2Mul),
  ];
}

/**
 * expShiftSum(src, dst, bytes, at): four floats an iteration, as two independent float64 pairs
 * (one pair at a time left the polynomial's dependency chain exposed: 5.7 ns a logit); reads the
 * shift (float64) at `at` and writes the lanes' sums there.
 */
function expShiftSumFunction(): WasmFunction {
  const V = V128;
  const f = frame({ src: I32, dst: I32, bytes: I32, at: I32 }, { i: I32, m: V, acc: V, e0: V, n0: V, s0: V, e1: V, n1: V, s1: V });
  const { get, set, addI, inc } = f;
  const load = (e: Lane, offset: number) => set(e, addI('src', 'i'), op.v128Load64Zero(offset), op.f64x2PromoteLowF32x4, get('m'), op.f64x2Sub);
  const store = (e: Lane, offset: number) => [...addI('dst', 'i'), ...get(e), ...op.f32x4DemoteF64x2Zero, ...op.v128Store64Lane0(offset)];
  const body = whileNot([...get('i'), ...get('bytes'), ...op.i32GeU],
    load('e0', 0),
    load('e1', 8),
    exp64(f, 'e0', 'n0', 's0'),
    exp64(f, 'e1', 'n1', 's1'),
    set('acc', get('acc'), get('e0'), op.f64x2Add, get('e1'), op.f64x2Add),
    store('e0', 0),
    store('e1', 8),
    inc('i', 16));
  return { name: 'expShiftSum', params: f.params, locals: f.locals, body: [set('m', get('at'), op.v128Load64Splat()), f.zero('acc'), body, [...get('at'), ...get('acc'), ...op.v128Store()]] };
}

interface Exports {
  expShiftSum(src: number, dst: number, bytes: number, at: number): void;
}

/** Bytes 0–15: the shift in, the two lanes' sums out; the row from byte 16. */
const ROW = 16;
const kernel = scratchKernel<Exports>(() => [expShiftSumFunction()]);

/**
 * Σᵢ e^(src[i] − shift) in float64 (to ~1e-16 relative of Math.exp's), and dst[i] =
 * Math.fround(e^(src[i] − shift)) · scaleOf(that sum), rounded to float32: the exponentials and the
 * scaling the sum decides in one pass out of the kernel's memory. dst may be src.
 */
export function expShiftSum(src: Float32Array, shift: number, dst: Float32Array, scaleOf: (sum: number) => number): number {
  if (dst.length !== src.length) throw new Error(`expShiftSum: dst holds ${dst.length} elements, src ${src.length}`);
  const n = src.length;
  const whole = n - (n % 4);
  const { exports, buffer } = kernel(ROW + 4 * n);
  const floats = new Float32Array(buffer);
  const doubles = new Float64Array(buffer, 0, 2);
  floats.set(src.subarray(0, whole), ROW / 4);
  let tail = 0;
  for (let i = whole; i < n; i++) tail += floats[ROW / 4 + i] = Math.exp(src[i] - shift);
  doubles[0] = shift;
  exports.expShiftSum(ROW, ROW, 4 * whole, 0);
  const sum = doubles[0] + doubles[1] + tail;
  const scale = scaleOf(sum);
  for (let i = 0, k = ROW / 4; i < n; i++, k++) dst[i] = floats[k] * scale;
  return sum;
}
