/**
 * Activations as host Float32Arrays (activations.ts), for the backends that compute on the host
 * (cpu, reference): the reference ops between the GEMMs (RoPE in Float32-only JavaScript and
 * SiLU·mul in WebAssembly: fastops.ts, wasm/silu.ts, equal to the reference to rounding), views
 * instead of copies where a view will do. A step's scope takes the arrays its ops write from the
 * engine's pool (host-pool.ts) and gives them back as each layer ends (`freeSince`) and at
 * `retain` / `release`: what it handed out must not be used after that — the engine's contract
 * for every backend, which a device's memory needs anyway. Reads are the arrays themselves: their
 * users (a frame's encoding, the sampler, the loss) are done with them before the step ends. The batched ops are the wrapped Backend's,
 * looked up at each call; K/V caches are placed where it says (the cpu backend: WebAssembly
 * memory its decode attention reads in place) and left to the garbage collector.
 */
import type { Floats } from '../../shared/model/types';
import { add, concatRows, rmsnorm, rmsnormBackward } from '../../shared/reference/ops';
import { joinColumns, splitColumns } from './columns';
import type { ActivationAttentionBackwardCall, ActivationAttentionCall, ActivationBackend, ActivationScope } from './activations';
import { ropeBackwardF32, ropeF32 } from './fastops';
import { HostPool } from './host-pool';
import { siluMulBackwardF32, siluMulF32 } from './wasm/silu';
import type { Backend, WeightGroup } from './types';

/**
 * What the pool may hold for reuse: the free arrays of the steps in flight (a 110m training step
 * of 64 tokens writes ~5–7 MB a layer; a batched op's stacked rows are larger). bench finetune's
 * shared setup, 6 steps: the server's GC 1.18 s with 64 MiB, 1.03 s with 128, peak RSS the same.
 */
const POOL_BYTES = 128 * 2 ** 20;

export class HostScope implements ActivationScope<Float32Array> {
  /** Arrays this scope took from the pool and has not given back, in the order taken. */
  private readonly owned: Float32Array[] = [];

  /** `allocateKvCache`: the backend's placement of K/V caches (Backend.allocateKvCache), if it has one. */
  constructor(
    private readonly pool: HostPool,
    private readonly allocateKvCache?: Backend['allocateKvCache'],
  ) {}

  private readonly alloc = (n: number): Float32Array => {
    const a = this.pool.take(n);
    this.owned.push(a);
    return a;
  };

  upload = (x: Float32Array) => x;
  read = async (t: Float32Array) => t;
  zeros = (n: number) => this.alloc(n).fill(0);
  kvCache(layers: number, floats: number): { k: Float32Array; v: Float32Array }[] {
    return this.allocateKvCache?.(layers, floats) ?? Array.from({ length: layers }, () => ({ k: new Float32Array(floats), v: new Float32Array(floats) }));
  }
  slice = (t: Float32Array, from: number, to: number) => t.subarray(from, to);
  write = (dst: Float32Array, src: Float32Array, at: number) => dst.set(src, at);
  adopt = (t: Float32Array) => t;

  release(): void {
    this.freeSince(0, []);
  }

  retain(keep: readonly Float32Array[]): void {
    this.freeSince(0, keep);
  }

  mark = () => this.owned.length;

  /** Keeps the arrays under `keep` (views included: a view keeps the whole array it looks into). */
  freeSince(mark: number, keep: readonly Float32Array[]): void {
    const kept = new Set(keep.map((t) => t.buffer));
    for (const a of this.owned.splice(mark)) {
      if (kept.has(a.buffer)) this.owned.push(a);
      else this.pool.give(a);
    }
  }

  add = (a: Float32Array, b: Float32Array) => add(a, b, this.alloc(a.length));
  concatRows = (a: Float32Array, b: Float32Array) => concatRows(a, b, this.alloc(a.length + b.length));
  splitColumns = (y: Float32Array, rows: number, widths: readonly number[]) => splitColumns(y, rows, widths, this.alloc);
  joinColumns = (parts: readonly Float32Array[], rows: number) => joinColumns(parts, rows, this.alloc);
  rmsnorm = (x: Float32Array, weight: Floats, rows: number, dim: number, eps: number) => rmsnorm(x, weight, rows, dim, eps, this.alloc(rows * dim));
  rmsnormBackward = (dy: Float32Array, x: Float32Array, weight: Floats, rows: number, dim: number, eps: number) => rmsnormBackward(dy, x, weight, rows, dim, eps, this.alloc(rows * dim));
  rope = (x: Float32Array, rows: number, nHeads: number, headDim: number, pos0: number, theta: number) => ropeF32(x, rows, nHeads, headDim, pos0, theta, this.alloc(x.length));
  ropeBackward = (dy: Float32Array, rows: number, nHeads: number, headDim: number, pos0: number, theta: number) => ropeBackwardF32(dy, rows, nHeads, headDim, pos0, theta, this.alloc(dy.length));
  siluMul = (g: Float32Array, u: Float32Array) => siluMulF32(g, u, this.alloc(g.length));
  siluMulBackward = (dm: Float32Array, g: Float32Array, u: Float32Array) => siluMulBackwardF32(dm, g, u, this.alloc);
}

export class HostActivations implements ActivationBackend<Float32Array> {
  private readonly pool = new HostPool(POOL_BYTES);
  /** stackRows' results, the only unowned arrays that `retire` gives back (a GEMM's output is onnxruntime's). */
  private readonly stacked = new WeakSet<Float32Array>();
  private readonly allocateKvCache?: Backend['allocateKvCache'];

  constructor(private readonly backend: Backend) {
    this.allocateKvCache = backend.allocateKvCache?.bind(backend);
  }

  linear(layer: number, group: WeightGroup, x: Float32Array, rows: number): Promise<Float32Array> {
    return this.backend.linear(layer, group, x, rows);
  }

  linearBackward(layer: number, group: WeightGroup, dy: Float32Array, rows: number): Promise<Float32Array> {
    return this.backend.linearBackward(layer, group, dy, rows);
  }

  attention({ q, k, v, shape }: ActivationAttentionCall<Float32Array>): Promise<Float32Array> {
    return this.backend.attention(q, k, v, shape);
  }

  attentionBackward({ dOut, q, k, v, shape }: ActivationAttentionBackwardCall<Float32Array>) {
    return this.backend.attentionBackward(dOut, q, k, v, shape);
  }

  stackRows(parts: readonly Float32Array[]): Float32Array {
    if (parts.length === 1) return parts[0];
    const x = this.pool.take(parts.reduce((n, p) => n + p.length, 0));
    this.stacked.add(x);
    let offset = 0;
    for (const p of parts) {
      x.set(p, offset);
      offset += p.length;
    }
    return x;
  }

  retire(t: Float32Array): void {
    if (!this.stacked.delete(t)) return;
    this.pool.give(t);
  }

  get pooledBytes(): number {
    return this.pool.bytes;
  }

  scope(): HostScope {
    return new HostScope(this.pool, this.allocateKvCache);
  }
}
