/**
 * Activations as host Float32Arrays (activations.ts), for the backends that compute on the host
 * (cpu, reference): the reference ops between the GEMMs (RoPE in Float32-only JavaScript and
 * SiLU·mul in WebAssembly: fastops.ts, wasm/silu.ts, equal to the reference to rounding), views
 * instead of copies where a view will do, and nothing to free: the garbage collector sees all of
 * it. The batched ops are the wrapped Backend's, looked up at each call; K/V caches are placed
 * where it says (the cpu backend: WebAssembly memory its decode attention reads in place).
 */
import type { Floats } from '../../shared/model/types';
import { add, concatRows, rmsnorm, rmsnormBackward, ropeBackward } from '../../shared/reference/ops';
import { joinColumns, splitColumns } from './columns';
import type { ActivationAttentionBackwardCall, ActivationAttentionCall, ActivationBackend, ActivationScope } from './activations';
import { ropeF32 } from './fastops';
import { siluMulBackwardF32, siluMulF32 } from './wasm/silu';
import type { Backend, WeightGroup } from './types';

export class HostScope implements ActivationScope<Float32Array> {
  /** `allocateKvCache`: the backend's placement of K/V caches (Backend.allocateKvCache), if it has one. */
  constructor(private readonly allocateKvCache?: Backend['allocateKvCache']) {}

  upload = (x: Float32Array) => x;
  read = async (t: Float32Array) => t;
  zeros = (n: number) => new Float32Array(n);
  kvCache(layers: number, floats: number): { k: Float32Array; v: Float32Array }[] {
    return this.allocateKvCache?.(layers, floats) ?? Array.from({ length: layers }, () => ({ k: new Float32Array(floats), v: new Float32Array(floats) }));
  }
  slice = (t: Float32Array, from: number, to: number) => t.subarray(from, to);
  write = (dst: Float32Array, src: Float32Array, at: number) => dst.set(src, at);
  adopt = (t: Float32Array) => t;
  release(): void {}
  retain(): void {}

  add = (a: Float32Array, b: Float32Array) => add(a, b);
  concatRows = (a: Float32Array, b: Float32Array) => concatRows(a, b);
  splitColumns = splitColumns;
  joinColumns = joinColumns;
  rmsnorm = (x: Float32Array, weight: Floats, rows: number, dim: number, eps: number) => rmsnorm(x, weight, rows, dim, eps);
  rmsnormBackward = (dy: Float32Array, x: Float32Array, weight: Floats, rows: number, dim: number, eps: number) => rmsnormBackward(dy, x, weight, rows, dim, eps);
  rope = ropeF32;
  ropeBackward = (dy: Float32Array, rows: number, nHeads: number, headDim: number, pos0: number, theta: number) => ropeBackward(dy, rows, nHeads, headDim, pos0, theta);
  siluMul = siluMulF32;
  siluMulBackward = siluMulBackwardF32;
}

export class HostActivations implements ActivationBackend<Float32Array> {
  private readonly hostScope: HostScope;

  constructor(private readonly backend: Backend) {
    this.hostScope = new HostScope(backend.allocateKvCache?.bind(backend));
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
    const x = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const p of parts) {
      x.set(p, offset);
      offset += p.length;
    }
    return x;
  }

  retire(): void {}

  /** One scope serves every step: there is nothing to free. */
  scope(): HostScope {
    return this.hostScope;
  }
}
