/**
 * SiLU·mul and its backward (shared/reference/ops siluMul, siluMulBackward) in WebAssembly SIMD,
 * for the engine's host activations (../host-activations.ts). JavaScript spends ~10 ns an element
 * here, nearly all of it in Math.exp — 2.7 ms of a 32-session decode step at the 30m preset's
 * 1376-wide feed-forward, a tenth of the step.
 *
 *   forward   m = g·σ(g)·u
 *   backward  dg = dm·u·σ(g)·(1 + g·(1 − σ(g))),   du = dm·g·σ(g)
 *
 * σ(x) = 1 / (1 + e^(−x)), four lanes at a time, e^y as exp.ts computes it (its clamp leaves σ
 * 0 or 1 to float32 precision where it bites). Float32 throughout where the reference computes
 * in float64: equal to a few ulps (silu.test.ts).
 *
 * Inputs are copied into one scratch memory and results copied out: a kernel reads only its own
 * memory, and these arrays are the GEMMs' outputs, which live elsewhere.
 */
import { checkShape } from '../../../shared/reference/ops';
import { newFloats, type Alloc } from '../host-pool';
import { expInPlace } from './exp';
import { frame, I32, op, scratchKernel, V128, whileNot, type WasmFunction } from './writer';

type Code = number[];

/** The locals sigmoid reads and writes, in whichever function's frame holds them. */
type SigmoidLocals = Pick<ReturnType<typeof frame<'x' | 'e' | 'n' | 's'>>, 'get' | 'set'>;

/** s ← σ(x) = 1 / (1 + e^(−x)) for the vector in local x, using e and n as temporaries. */
function sigmoid(f: SigmoidLocals): Code {
  const { get, set } = f;
  return [...set('e', get('x'), op.f32x4Neg), ...expInPlace(f), ...set('s', op.f32x4Splat(1), op.f32x4Splat(1), get('e'), op.f32x4Add, op.f32x4Div)];
}

/** silu(g, u, m, bytes): m = g·σ(g)·u over `bytes` (a multiple of 16). */
function forward(): WasmFunction {
  const f = frame({ g: I32, u: I32, m: I32, bytes: I32 }, { i: I32, x: V128, e: V128, n: V128, s: V128 });
  const { get, set, addI, inc } = f;
  const load = (base: 'g' | 'u') => [...addI(base, 'i'), ...op.v128Load()];
  const body = whileNot([...get('i'), ...get('bytes'), ...op.i32GeU],
    set('x', load('g')),
    sigmoid(f),
    [...addI('m', 'i'), ...get('x'), ...get('s'), ...op.f32x4Mul, ...load('u'), ...op.f32x4Mul, ...op.v128Store()],
    inc('i', 16));
  return { name: 'silu', params: f.params, locals: f.locals, body: [body] };
}

/** siluBackward(dm, g, u, dg, du, bytes): the gradients of m = g·σ(g)·u given dm. */
function backward(): WasmFunction {
  const f = frame({ dm: I32, g: I32, u: I32, dg: I32, du: I32, bytes: I32 }, { i: I32, x: V128, e: V128, n: V128, s: V128, a: V128 });
  const { get, set, addI, inc } = f;
  const load = (base: 'dm' | 'g' | 'u') => [...addI(base, 'i'), ...op.v128Load()];
  const body = whileNot([...get('i'), ...get('bytes'), ...op.i32GeU],
    set('x', load('g')),
    sigmoid(f),
    set('a', load('dm')),
    // dg = ((dm·u)·σ)·(1 + g·(1 − σ))
    [...addI('dg', 'i'), ...get('a'), ...load('u'), ...op.f32x4Mul, ...get('s'), ...op.f32x4Mul],
    [...op.f32x4Splat(1), ...get('x'), ...op.f32x4Splat(1), ...get('s'), ...op.f32x4Sub, ...op.f32x4Mul, ...op.f32x4Add, ...op.f32x4Mul, ...op.v128Store()],
    // du = (dm·g)·σ
    [...addI('du', 'i'), ...get('a'), ...get('x'), ...op.f32x4Mul, ...get('s'), ...op.f32x4Mul, ...op.v128Store()],
    inc('i', 16));
  return { name: 'siluBackward', params: f.params, locals: f.locals, body: [body] };
}

interface Exports {
  silu(g: number, u: number, m: number, bytes: number): void;
  siluBackward(dm: number, g: number, u: number, dg: number, du: number, bytes: number): void;
}

/** Inputs and results side by side in the kernel's own memory. */
const kernel = scratchKernel<Exports>(() => [forward(), backward()]);

const lanes = (n: number) => Math.ceil(n / 4) * 4;

/** = siluMul(g, u) of shared/reference/ops, for Float32Array; into `out` when given. */
export function siluMulF32(g: Float32Array, u: Float32Array, out: Float32Array = new Float32Array(g.length)): Float32Array {
  checkShape('siluMul u', u, g.length);
  checkShape('siluMul out', out, g.length);
  const n = lanes(g.length);
  const { exports, buffer } = kernel(4 * 3 * n);
  const floats = new Float32Array(buffer);
  floats.set(g, 0);
  floats.set(u, n);
  exports.silu(0, 4 * n, 8 * n, 4 * n);
  out.set(floats.subarray(2 * n, 2 * n + g.length));
  return out;
}

/** = siluMulBackward(dm, g, u) of shared/reference/ops, for Float32Array; dg and du from `alloc`. */
export function siluMulBackwardF32(dm: Float32Array, g: Float32Array, u: Float32Array, alloc: Alloc = newFloats): { dg: Float32Array; du: Float32Array } {
  checkShape('siluMulBackward g', g, dm.length);
  checkShape('siluMulBackward u', u, dm.length);
  const n = lanes(dm.length);
  const { exports, buffer } = kernel(4 * 5 * n);
  const floats = new Float32Array(buffer);
  floats.set(dm, 0);
  floats.set(g, n);
  floats.set(u, 2 * n);
  exports.siluBackward(0, 4 * n, 8 * n, 12 * n, 16 * n, 4 * n);
  const dg = alloc(dm.length);
  const du = alloc(dm.length);
  dg.set(floats.subarray(3 * n, 3 * n + dm.length));
  du.set(floats.subarray(4 * n, 4 * n + dm.length));
  return { dg, du };
}
