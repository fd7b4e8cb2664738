/**
 * The two ways of computing a LoRA delta s·(x·Aᵀ)·Bᵀ that `bench edge-math` compares, shared by
 * the Node measurement and the worker it runs in workerd (so: web-standard code only). The
 * onnxruntime-web module is passed in, because Node and workerd load different builds of it.
 */
import type * as Ort from 'onnxruntime-web';
import { loraDown, loraUp, type LoraParams } from '../../shared/adapters/lora';
import { Rng } from '../../shared/util/rng';
import { linearModel } from '../../gpu-server/backend/cpu/onnx-model';

export type OrtWeb = typeof Ort;

/** A square module of `width` at rank r with PEFT's usual alpha = 2r (s = 2), A and B non-zero. */
export function loraProblem(width: number, r: number, seed = 1): LoraParams {
  const rng = new Rng(seed);
  const normal = (n: number, scale: number) => Float32Array.from({ length: n }, () => scale * rng.normal());
  const A = normal(r * width, 1 / Math.sqrt(width));
  const B = normal(width * r, 1 / Math.sqrt(r));
  return { A, B, r, inDim: width, outDim: width, scale: 2, keyA: 'lora_A', keyB: 'lora_B' };
}

export function randomRows(rows: number, width: number, seed = 2): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: rows * width }, () => rng.normal());
}

/** The delta exactly as the adapters run it at the taps (LoraModule / DoraModule). */
export function tsDelta(p: LoraParams, x: Float32Array, rows: number): Float32Array {
  return loraUp(p, loraDown(p, x, rows), null, rows, x) as Float32Array;
}

/** Floating-point work of one delta: a multiply and an add per weight, per row, for A and B. */
export const deltaFlops = (p: Pick<LoraParams, 'r' | 'inDim' | 'outDim'>, rows: number): number => 2 * rows * p.r * (p.inDim + p.outDim);

/**
 * The delta in onnxruntime-web: two sessions, h = x·Aᵀ then y = h·(s·B)ᵀ, each the CPU
 * backend's linearModel (one Gemm, transB, the weight a constant initializer that onnxruntime
 * pre-packs at creation). s is folded into B because linearModel has no scale; that rounds
 * s·B to float32 once, a difference far below the check's tolerance. One graph holding both
 * Gemms would save one run() per delta (`runOverheadMs` measures that cost).
 */
export class OrtDelta {
  private constructor(
    private readonly ort: OrtWeb,
    private readonly down: Ort.InferenceSession,
    private readonly up: Ort.InferenceSession,
    private readonly p: LoraParams,
  ) {}

  static async create(ort: OrtWeb, p: LoraParams): Promise<OrtDelta> {
    const scaledB = Float32Array.from(p.B, (b) => p.scale * b);
    const options: Ort.InferenceSession.SessionOptions = { executionProviders: ['wasm'] };
    const down = await ort.InferenceSession.create(linearModel(Float32Array.from(p.A), p.r, p.inDim), options);
    const up = await ort.InferenceSession.create(linearModel(scaledB, p.outDim, p.r), options);
    return new OrtDelta(ort, down, up, p);
  }

  async run(x: Float32Array, rows: number): Promise<Float32Array> {
    const h = (await this.down.run({ X: new this.ort.Tensor('float32', x, [rows, this.p.inDim]) })).Y;
    const y = (await this.up.run({ X: h })).Y;
    h.dispose();
    return y.data as Float32Array;
  }

  async release(): Promise<void> {
    await this.down.release();
    await this.up.release();
  }
}

/** A session whose run() does almost nothing: the fixed cost of one call into the wasm backend. */
export async function trivialSession(ort: OrtWeb): Promise<{ run(): Promise<unknown>; release(): Promise<void> }> {
  const session = await ort.InferenceSession.create(linearModel(new Float32Array([1]), 1, 1), { executionProviders: ['wasm'] });
  const x = new ort.Tensor('float32', new Float32Array([1]), [1, 1]);
  return { run: () => session.run({ X: x }), release: () => session.release() };
}

/** max |got − want| / max |want|: the error relative to the delta's scale (elementwise ratios blow up near zero). */
export function maxRelErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) throw new Error(`lengths differ: ${got.length} vs ${want.length}`);
  let err = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return scale === 0 ? err : err / scale;
}

/**
 * Float32 sums in a different order (onnxruntime's blocked Gemm against the adapters' float64
 * sums rounded once) differ by a few ulps of the largest terms: ~1e-7 relative on these shapes.
 */
export const AGREEMENT_TOLERANCE = 1e-5;

export function checkAgreement(where: string, errors: Record<number, number>): void {
  for (const [rows, err] of Object.entries(errors)) {
    if (!(err <= AGREEMENT_TOLERANCE)) throw new Error(`${where}: onnxruntime-web and TypeScript disagree on ${rows} rows: max relative error ${err} > ${AGREEMENT_TOLERANCE}`);
  }
}
