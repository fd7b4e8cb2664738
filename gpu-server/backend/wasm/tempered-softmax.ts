/**
 * The sampler's softmax on the server (../../engine/session.ts): p[i] = e^((logits[i] − max)/T) / Σ
 * in float64, as shared/reference/draw.ts temperedSoftmax defines it, with the exponentials in
 * WebAssembly SIMD — at a 32k vocabulary the reference's softmax took ~360 µs of a ~440 µs draw,
 * this one ~220 (the kernel ~5 ns a logit). Per logit the same float64 subtraction and division
 * by T as the reference, e^ to a few ulps (exp-shift.ts's exp64; 0 below e^-708, where
 * Math.exp's is a denormal or 0; NaN kept), Σ in two float64 lanes instead of id order, then the same
 * division by Σ: the probabilities differ from the reference's by a few float64 ulps, so a draw
 * differs only where its uniform number falls within ~1e-15 of a boundary between two tokens
 * (or picks a token e^708 times less likely than the likeliest).
 *
 * Thread mapping: one call, four logits an iteration as two independent float64 pairs (as
 * exp-shift.ts); the last n mod 4 are Math.exp's.
 */
import type { Floats } from '../../../shared/model/types';
import { exp64, type Lane } from './exp-shift';
import { frame, I32, op, scratchKernel, V128, whileNot, type WasmFunction } from './writer';

/**
 * temperedExp(src, dst, bytes, at): dst (float64) ← e^((src (float32) − max)/T) for `bytes` bytes
 * of src; reads max and T (float64) at `at` and writes the two lanes' sums there.
 */
function temperedExpFunction(): WasmFunction {
  const V = V128;
  const f = frame({ src: I32, dst: I32, bytes: I32, at: I32 }, { i: I32, o: I32, m: V, t: V, acc: V, e0: V, n0: V, s0: V, e1: V, n1: V, s1: V, u0: V, u1: V });
  const { get, set, addI, inc } = f;
  // e ← (src − max)/T; u ← the lanes below exp64's clamp, whose e^ is 0 here (NaN is not below)
  const load = (e: Lane, u: 'u0' | 'u1', offset: number) => [
    ...set(e, addI('src', 'i'), op.v128Load64Zero(offset), op.f64x2PromoteLowF32x4, get('m'), op.f64x2Sub, get('t'), op.f64x2Div),
    ...set(u, get(e), op.f64x2Splat(UNDERFLOW), op.f64x2Lt),
  ];
  const exp = (e: Lane, n: Lane, s: Lane, u: 'u0' | 'u1') => [...exp64(f, e, n, s), ...set(e, get(e), get(u), op.v128AndNot)];
  const store = (e: Lane, offset: number) => [...addI('dst', 'o'), ...get(e), ...op.v128Store(offset)];
  const body = whileNot([...get('i'), ...get('bytes'), ...op.i32GeU],
    load('e0', 'u0', 0),
    load('e1', 'u1', 8),
    exp('e0', 'n0', 's0', 'u0'),
    exp('e1', 'n1', 's1', 'u1'),
    set('acc', get('acc'), get('e0'), op.f64x2Add, get('e1'), op.f64x2Add),
    store('e0', 0),
    store('e1', 16),
    inc('i', 16),
    inc('o', 32));
  const params = [set('m', get('at'), op.v128Load64Splat()), set('t', get('at'), op.v128Load64Splat(8))];
  return { name: 'temperedExp', params: f.params, locals: f.locals, body: [...params, f.zero('acc'), body, [...get('at'), ...get('acc'), ...op.v128Store()]] };
}

/** exp64's clamp: below it e^t would be a denormal (Math.exp's) or 0; here it is 0. */
const UNDERFLOW = -708;

interface Exports {
  temperedExp(src: number, dst: number, bytes: number, at: number): void;
}

/** Bytes 0–15: max and T in, the two lanes' sums out; the logits (float32) from byte 16, the exponentials (float64) after them. */
const PARAMS = 16;
const kernel = scratchKernel<Exports>(() => [temperedExpFunction()]);

/** p ← softmax(logits / T), T > 0, float64: temperedSoftmax's definition (shared/reference/draw.ts). logits must be float32. */
export function temperedSoftmaxF64(logits: Floats, temperature: number, p: Float64Array): void {
  if (!(logits instanceof Float32Array)) throw new TypeError('temperedSoftmaxF64: the logits must be a Float32Array');
  const n = logits.length;
  if (p.length !== n) throw new Error(`temperedSoftmaxF64: p holds ${p.length} elements, the logits ${n}`);
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (logits[i] > max) max = logits[i];
  const whole = n - (n % 4);
  const src = PARAMS;
  const dst = src + 4 * n + ((4 * n) % 8); // float64-aligned
  const { exports, buffer } = kernel(dst + 8 * n);
  new Float32Array(buffer, src, n).set(logits);
  const doubles = new Float64Array(buffer, 0, 2);
  doubles[0] = max;
  doubles[1] = temperature;
  exports.temperedExp(src, dst, 4 * whole, 0);
  const exps = new Float64Array(buffer, dst, n);
  let sum = doubles[0] + doubles[1];
  for (let i = whole; i < n; i++) sum += exps[i] = Math.exp((logits[i] - max) / temperature);
  for (let i = 0; i < n; i++) p[i] = exps[i] / sum;
}
