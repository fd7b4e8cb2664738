/**
 * SiLU·mul and its backward (shared/reference/ops siluMul, siluMulBackward) in WebAssembly SIMD,
 * for the engine's host activations (../host-activations.ts). JavaScript spends ~10 ns an element
 * here, nearly all of it in Math.exp — 2.7 ms of a 32-session decode step at the 30m preset's
 * 1376-wide feed-forward, a tenth of the step.
 *
 *   forward   m = g·σ(g)·u
 *   backward  dg = dm·u·σ(g)·(1 + g·(1 − σ(g))),   du = dm·g·σ(g)
 *
 * σ(x) = 1 / (1 + e^(−x)), four lanes at a time. e^y = 2^n · p(r) with n = round(y·log₂e),
 * r = y − n·ln 2 (ln 2 in two parts, Cody–Waite, so r is exact) and p the degree-6 Taylor
 * polynomial of e^r on |r| ≤ ln2/2 (truncation < 2e-7 relative); y is clamped to [−87, 88] so
 * that 2^n stays a normal float32 (σ is then 0 or 1 to float32 precision anyway). Float32
 * throughout where the reference computes in float64: equal to a few ulps (silu.test.ts).
 *
 * Inputs are copied into one scratch memory and results copied out: a kernel reads only its own
 * memory, and these arrays are the GEMMs' outputs, which live elsewhere.
 */
import { checkShape } from '../../../shared/reference/ops';
import { frame, I32, op, V128, wasmModule, whileNot, type WasmFunction } from './writer';

type Code = number[];

const LOG2E = 1.4426950408889634;
const LN2_HI = 0.693359375; // 355/512: n·LN2_HI is exact for |n| < 2^15
const LN2_LO = -2.12194440e-4; // ln 2 − LN2_HI
const TAYLOR = [1 / 720, 1 / 120, 1 / 24, 1 / 6, 1 / 2, 1, 1]; // e^r, highest power first

/** The locals sigmoid reads and writes, in whichever function's frame holds them. */
type SigmoidLocals = Pick<ReturnType<typeof frame<'x' | 'e' | 'n' | 's'>>, 'get' | 'set'>;

/** s ← σ(x) for the vector in local x, using e and n as temporaries. */
function sigmoid(f: SigmoidLocals): Code {
  const { get, set } = f;
  const splat = op.f32x4Splat;
  // e ← clamp(−x); n ← round(e·log₂e); e ← (e − n·LN2_HI) − n·LN2_LO (= r)
  const r = [
    ...set('e', get('x'), op.f32x4Neg, splat(-87), op.f32x4Max, splat(88), op.f32x4Min),
    ...set('n', get('e'), splat(LOG2E), op.f32x4Mul, op.f32x4Nearest),
    ...set('e', get('e'), get('n'), splat(LN2_HI), op.f32x4Mul, op.f32x4Sub, get('n'), splat(LN2_LO), op.f32x4Mul, op.f32x4Sub),
  ];
  // s ← p(r) by Horner
  const poly = [...set('s', splat(TAYLOR[0])), ...TAYLOR.slice(1).flatMap((c) => set('s', get('s'), get('e'), op.f32x4Mul, splat(c), op.f32x4Add))];
  // e ← p(r) · 2^n, 2^n built in the exponent bits: (n + 127) << 23; then s ← 1 / (1 + e)
  const scaled = set('e', get('s'), get('n'), op.i32x4TruncSatF32x4S, op.i32x4Splat(127), op.i32x4Add, op.i32(23), op.i32x4Shl, op.f32x4Mul);
  return [...r, ...poly, ...scaled, ...set('s', splat(1), splat(1), get('e'), op.f32x4Add, op.f32x4Div)];
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

const PAGE = 65536;
let kernel: { memory: WebAssembly.Memory; exports: Exports; floats: Float32Array } | undefined;

/** The scratch memory as floats, at least `n` of them (grown as needed; its views are remade). */
function scratch(n: number): { exports: Exports; floats: Float32Array } {
  if (!kernel) {
    const memory = new WebAssembly.Memory({ initial: 1 });
    const exports = new WebAssembly.Instance(new WebAssembly.Module(wasmModule([forward(), backward()], 1)), { env: { memory } }).exports as unknown as Exports;
    kernel = { memory, exports, floats: new Float32Array(memory.buffer) };
  }
  if (kernel.floats.length < n) {
    kernel.memory.grow(Math.ceil((4 * n - kernel.memory.buffer.byteLength) / PAGE));
    kernel.floats = new Float32Array(kernel.memory.buffer);
  }
  return kernel;
}

const lanes = (n: number) => Math.ceil(n / 4) * 4;

/** = siluMul(g, u) of shared/reference/ops, for Float32Array. */
export function siluMulF32(g: Float32Array, u: Float32Array): Float32Array {
  checkShape('siluMul u', u, g.length);
  const n = lanes(g.length);
  const { exports, floats } = scratch(3 * n);
  floats.set(g, 0);
  floats.set(u, n);
  exports.silu(0, 4 * n, 8 * n, 4 * n);
  return floats.slice(2 * n, 2 * n + g.length);
}

/** = siluMulBackward(dm, g, u) of shared/reference/ops, for Float32Array. */
export function siluMulBackwardF32(dm: Float32Array, g: Float32Array, u: Float32Array): { dg: Float32Array; du: Float32Array } {
  checkShape('siluMulBackward g', g, dm.length);
  checkShape('siluMulBackward u', u, dm.length);
  const n = lanes(dm.length);
  const { exports, floats } = scratch(5 * n);
  floats.set(dm, 0);
  floats.set(g, n);
  floats.set(u, 2 * n);
  exports.siluBackward(0, 4 * n, 8 * n, 12 * n, 16 * n, 4 * n);
  return { dg: floats.slice(3 * n, 3 * n + dm.length), du: floats.slice(4 * n, 4 * n + dm.length) };
}
