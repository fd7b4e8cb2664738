/**
 * A backend runs the frozen base model's heavy operations: the linear layers, for a batch of
 * rows gathered from many sessions at once (the scheduler stacks them). Weights are loaded
 * once, at creation, and never change: the base is frozen and shared.
 *
 * Weight groups fuse the projections that share an input (see shared/adapters/taps.ts):
 *   qkv    [nHeads·headDim + 2·nKvHeads·headDim, dim]  (+ bias for Qwen2)  — tap attn.in
 *   o      [dim, nHeads·headDim]                                          — tap attn.out
 *   gateup [2·hiddenDim, dim]  (gate rows first, then up)                 — tap mlp.in
 *   down   [dim, hiddenDim]                                               — tap mlp.out
 *   lmHead [vocabSize, dim]   (layer is ignored)
 *
 * Attention has no weights but is a heavy op too (a training step's backward is five
 * [rows × rows × headDim] products per head); it runs per session, over the session's own K/V.
 */
import type { AttentionShape } from '../../shared/reference/ops';
import type { ActivationBackend } from './activations';

export const WEIGHT_GROUPS = ['qkv', 'o', 'gateup', 'down', 'lmHead'] as const;
export type WeightGroup = (typeof WEIGHT_GROUPS)[number];

export interface BackendInfo {
  name: 'cpu' | 'reference' | 'webgpu';
  /** Human-readable device, e.g. "onnxruntime-node 1.30 CPU, 2 threads" or the GPU adapter's name. */
  device: string;
}

export interface Backend {
  readonly info: BackendInfo;
  /** y [rows, out] = x [rows, in] · Wᵀ (+ bias): the forward of a frozen weight group. */
  linear(layer: number, group: WeightGroup, x: Float32Array, rows: number): Promise<Float32Array>;
  /** dx [rows, in] = dy [rows, out] · W: the input gradient of a frozen weight group (no weight gradient, ever). */
  linearBackward(layer: number, group: WeightGroup, dy: Float32Array, rows: number): Promise<Float32Array>;
  /**
   * Causal grouped-query attention (shared/reference/ops attention): q [rows, nHeads·headDim]
   * after RoPE, k, v [≥ pos0 + rows, nKvHeads·headDim] → [rows, nHeads·headDim]. k and v are a
   * session's cache, whose rows [pos0, pos0 + rows) were just written and whose rows below pos0
   * are as at the last call with the same arrays: a backend may keep device copies in step by
   * uploading only the new rows.
   */
  attention(q: Float32Array, k: Float32Array, v: Float32Array, shape: AttentionShape): Promise<Float32Array>;
  /** Its backward, probabilities recomputed: dq [rows, nHeads·headDim], dk and dv [pos0 + rows, nKvHeads·headDim]. */
  attentionBackward(dOut: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, shape: AttentionShape): Promise<AttentionGradients>;
  /**
   * Optional: the engine's activations on the backend's device (activations.ts), so that the ops
   * between GEMMs run there and only taps and sampling read back. Without it the engine keeps
   * them in host arrays and calls the methods above.
   */
  readonly activations?: ActivationBackend<unknown>;
  /**
   * Optional, for host activations: a session's zeroed K/V cache, `layers` × (K, V) of `floats`
   * each, placed where `attention` reads it fastest (the cpu backend: WebAssembly memory).
   * Without it, or where it returns undefined, the caches are plain arrays.
   */
  allocateKvCache?(layers: number, floats: number): { k: Float32Array; v: Float32Array }[] | undefined;
  /** Releases native resources. */
  dispose(): Promise<void>;
}

export interface AttentionCall {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  shape: AttentionShape;
}

export interface AttentionGradients {
  dq: Float32Array;
  dk: Float32Array;
  dv: Float32Array;
}
