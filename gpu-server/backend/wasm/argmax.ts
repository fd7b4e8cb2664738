/**
 * Greedy decoding's argmax over a row of logits on the server, in WebAssembly SIMD: the same
 * token as shared/reference/sampling.ts argmax (the first index of the largest value; NaNs
 * skipped, as `>` skips them, except that a NaN first element wins, as it does there). At a 32k
 * vocabulary, inside the server's decode of 32 sessions (each row fresh from the LM head), the
 * reference's loop took 37 µs per session and token, this 17 (24.5 → 14.8 µs on a row in cache).
 *
 * Thread mapping: one call; four lanes each keep the largest value they saw and its first index
 * (a strict >, so the earliest stays on ties); the lanes are then reduced in JavaScript, the
 * smallest index among equal maxima, and the last n mod 4 elements scanned after them.
 */
import type { Floats } from '../../../shared/model/types';
import { frame, I32, op, scratchKernel, V128, whileNot, type WasmFunction } from './writer';

/** argmax(src, bytes, out): the lanes' largest values (float32 ×4) at out, their indices (int32 ×4) at out + 16. */
function argmaxFunction(): WasmFunction {
  const f = frame({ src: I32, bytes: I32, out: I32 }, { i: I32, best: V128, at: V128, index: V128, x: V128, gt: V128 });
  const { get, set, addI, inc } = f;
  const body = whileNot([...get('i'), ...get('bytes'), ...op.i32GeU],
    set('x', addI('src', 'i'), op.v128Load()),
    set('gt', get('x'), get('best'), op.f32x4Gt),
    set('best', get('x'), get('best'), get('gt'), op.v128Bitselect),
    set('at', get('index'), get('at'), get('gt'), op.v128Bitselect),
    set('index', get('index'), op.i32x4Splat(4), op.i32x4Add),
    inc('i', 16));
  const init = [set('best', op.f32x4Splat(-Infinity)), f.zero('at'), set('index', op.i32x4Lanes(0, 1, 2, 3))];
  return { name: 'argmax', params: f.params, locals: f.locals, body: [...init, body, [...get('out'), ...get('best'), ...op.v128Store()], [...get('out'), ...get('at'), ...op.v128Store(16)]] };
}

interface Exports {
  argmax(src: number, bytes: number, out: number): void;
}

/** Bytes 0–31: the lanes' values and indices out; the row from byte 32. */
const ROW = 32;
const kernel = scratchKernel<Exports>(() => [argmaxFunction()]);

/** The index of the largest value (the first one on ties): sampling.ts argmax's definition. x must be float32 (the logits every backend reads back). */
export function argmaxF32(x: Floats): number {
  if (!(x instanceof Float32Array)) throw new TypeError('argmaxF32: the logits must be a Float32Array');
  const n = x.length;
  if (n === 0 || Number.isNaN(x[0])) return 0;
  const whole = n - (n % 4);
  const { exports, buffer } = kernel(ROW + 4 * whole);
  new Float32Array(buffer, ROW, whole).set(x.subarray(0, whole));
  exports.argmax(ROW, 4 * whole, 0);
  const values = new Float32Array(buffer, 0, 4);
  const indices = new Int32Array(buffer, 16, 4);
  let best = 0;
  let bestValue = x[0];
  for (let lane = 0; lane < 4; lane++) {
    const v = values[lane];
    if (v > bestValue || (v === bestValue && indices[lane] < best)) [best, bestValue] = [indices[lane], v];
  }
  for (let i = whole; i < n; i++) if (x[i] > bestValue) [best, bestValue] = [i, x[i]];
  return best;
}
