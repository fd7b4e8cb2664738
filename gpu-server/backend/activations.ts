/**
 * Where the engine's activations live, and the ops between the frozen GEMMs that touch them.
 *
 * The engine is written once over an opaque activation type T: host Float32Arrays on the cpu and
 * reference backends (host.ts: the reference ops, no copies), device buffers on webgpu
 * (webgpu/activations.ts: every op recorded into one pending command encoder). Host data enters
 * through `upload` and leaves through `read` — at the taps, where a tenant needs it, and for
 * sampling — so on a device a segment between two reads is one submit and one readback.
 *
 * A scope owns the tensors one session's step creates and frees them together at `release`
 * (a device cannot wait for the garbage collector: it never sees the device's memory). Results of
 * batched ops are unowned until the batcher hands each session its part in that session's scope.
 */
import type { Floats } from '../../shared/model/types';
import type { AttentionShape } from '../../shared/reference/ops';
import type { WeightGroup } from './types';

export interface ActivationScope<T> {
  /** Host values as an activation. */
  upload(x: Float32Array): T;
  /** An activation's values on the host (on a device: submits what waits, one readback). */
  read(t: T): Promise<Float32Array>;
  zeros(n: number): T;
  /** A session's zeroed K/V cache, `layers` × (K, V) of `floats` each, where the backend's attention reads it best. */
  kvCache(layers: number, floats: number): { k: T; v: T }[];
  /** Elements [from, to) of t (a host view; a device copy). */
  slice(t: T, from: number, to: number): T;
  /** dst[at…] = src (the KV cache's new rows, a gradient into a larger one). */
  write(dst: T, src: T, at: number): void;
  /** Takes an unowned result (a batched op's) into this scope. */
  adopt(t: T): T;
  /** Frees what the scope owns; its tensors must not be used again. */
  release(): void;
  /** Frees what the scope owns except `keep` (a training step's trace, once its forward is done). */
  retain(keep: readonly T[]): void;
  /** A point in what the scope owns, for `freeSince`. */
  mark(): number;
  /**
   * Frees what the scope took since `mark` except `keep`: a layer's intermediates once its
   * output exists, so that a step holds one layer's worth at a time, not the whole pass's.
   */
  freeSince(mark: number, keep: readonly T[]): void;

  add(a: T, b: T): T;
  /** [a rows; b rows] */
  concatRows(a: T, b: T): T;
  /** y [rows, Σwidths] → one [rows, width] per width. */
  splitColumns(y: T, rows: number, widths: readonly number[]): T[];
  /** The inverse: [rows, widthᵢ] parts → [rows, Σwidths]. */
  joinColumns(parts: readonly T[], rows: number): T;
  rmsnorm(x: T, weight: Floats, rows: number, dim: number, eps: number): T;
  rmsnormBackward(dy: T, x: T, weight: Floats, rows: number, dim: number, eps: number): T;
  rope(x: T, rows: number, nHeads: number, headDim: number, pos0: number, theta: number): T;
  ropeBackward(dy: T, rows: number, nHeads: number, headDim: number, pos0: number, theta: number): T;
  siluMul(g: T, u: T): T;
  siluMulBackward(dm: T, g: T, u: T): { dg: T; du: T };
}

export interface ActivationAttentionCall<T> {
  q: T; // [rows, nHeads·headDim] after RoPE
  k: T; // the session's K cache [capacity, nKvHeads·headDim], rows [pos0, pos0 + rows) just written
  v: T; // its V cache
  shape: AttentionShape;
}

export interface ActivationAttentionBackwardCall<T> extends ActivationAttentionCall<T> {
  dOut: T;
}

/** The backend's batched ops on activations (cf. Backend); results are unowned until adopted. */
export interface ActivationBackend<T> {
  linear(layer: number, group: WeightGroup, x: T, rows: number): Promise<T>;
  linearBackward(layer: number, group: WeightGroup, dy: T, rows: number): Promise<T>;
  /** A session's attention over its own K/V cache: per session, nothing to share. */
  attention(call: ActivationAttentionCall<T>): Promise<T>;
  attentionBackward(call: ActivationAttentionBackwardCall<T>): Promise<{ dq: T; dk: T; dv: T }>;
  /**
   * Optional: a training step's head (head.ts) as one op — xf [rows, dim] after the final norm,
   * targets and a 0/1 mask [rows] → the masked mean cross-entropy and dL/dxf [rows, dim] (and
   * the logits when asked) — where the backend keeps the [rows, vocab] tensors on its device.
   * Without it the engine composes the head from the batcher's lmHead GEMMs (composedTrainingHead),
   * which lets training sessions share them.
   */
  trainingHead?(xf: T, targets: Int32Array, mask: Float32Array, rows: number, returnLogits: boolean): Promise<{ loss: number; dxf: T; logits?: Float32Array }>;
  /** Several sessions' rows stacked for one op: unowned, freed with `retire`. */
  stackRows(parts: readonly T[]): T;
  /** Frees an unowned tensor once the work recorded on it is done. */
  retire(t: T): void;
  /** Where ops are recorded and run later: starts what is recorded (the batcher calls it when it has nothing left to run). */
  submit?(): void;
  scope(): ActivationScope<T>;
  /** Bytes of freed activation memory kept for reuse (host arrays or device buffers). */
  readonly pooledBytes: number;
}
