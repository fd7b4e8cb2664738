/**
 * Taps: the points of a decoder layer where an adapter acts (see DESIGN.md).
 *
 *   h ─► x = rmsnorm₁(h) ─► q₀,k₀,v₀ = x·Wq, x·Wk, x·Wv   tap attn.in  (modules q_proj k_proj v_proj)
 *     ─► rope, KV cache, attention ─► a ─► o₀ = a·Wo       tap attn.out (module o_proj)
 *   h' = h + o ─► x₂ = rmsnorm₂(h') ─► g₀,u₀ = x₂·Wg, x₂·Wu tap mlp.in  (modules gate_proj up_proj)
 *     ─► m = silu(g)·u ─► d₀ = m·Wd                        tap mlp.out  (module down_proj)
 *   h'' = h' + d
 */
import type { Floats, LayerWeights } from '../model/types';

export const TAP_NAMES = ['attn.in', 'attn.out', 'mlp.in', 'mlp.out'] as const;
export type TapName = (typeof TAP_NAMES)[number];

export const MODULE_NAMES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type ModuleName = (typeof MODULE_NAMES)[number];

export const TAP_MODULES: Record<TapName, readonly ModuleName[]> = {
  'attn.in': ['q_proj', 'k_proj', 'v_proj'],
  'attn.out': ['o_proj'],
  'mlp.in': ['gate_proj', 'up_proj'],
  'mlp.out': ['down_proj'],
};

export const MODULE_TAP: Record<ModuleName, TapName> = {
  q_proj: 'attn.in',
  k_proj: 'attn.in',
  v_proj: 'attn.in',
  o_proj: 'attn.out',
  gate_proj: 'mlp.in',
  up_proj: 'mlp.in',
  down_proj: 'mlp.out',
};

/** The frozen weight matrix of each module within a layer. */
export const MODULE_WEIGHT: Record<ModuleName, keyof LayerWeights> = {
  q_proj: 'wq',
  k_proj: 'wk',
  v_proj: 'wv',
  o_proj: 'wo',
  gate_proj: 'wGate',
  up_proj: 'wUp',
  down_proj: 'wDown',
};

/** Adapter parameter gradients, keyed like the parameters (PEFT tensor names). */
export type Grads = Map<string, Float64Array>;

/**
 * An adapter's action on one module (one linear layer) of one layer, for `rows` token rows.
 * x: [rows, in] the module's input; y0: [rows, out] the frozen output x·Wᵀ (+ bias).
 * Exactly one of the two forms is used by a module:
 *  - output form (LoRA, DoRA, IA3 on k/v): y = f(x, y0);
 *  - input form (IA3 on a feed-forward module): the frozen layer sees x' = f(x) instead of x.
 * Backward mirrors it; gradients of the adapter's parameters are ADDED into `grads`.
 */
export interface ModuleAdapter {
  readonly form: 'output' | 'input';
  /** Whether forwardOutput reads y0 (DoRA, IA3); LoRA's delta needs only x. */
  readonly needsBaseOutput: boolean;
  forwardOutput(x: Floats, y0: Floats, rows: number): Floats; // → y [rows, out]
  /**
   * Given dL/dy, returns dL/dx through the adapter only (or null) and dL/dy0 for the frozen path.
   * dx is a new array, the caller's to keep or change; dy0 may be dy itself (LoRA), so callers
   * only read it. Neither y0 nor dy is written. With `defer`, work that only adds into `grads`
   * may be handed to it instead of done now (the split client sends dL/dx first and the server
   * goes on meanwhile); the caller runs it before it reads `grads`.
   */
  backwardOutput(x: Floats, y0: Floats, dy: Floats, rows: number, grads: Grads, defer?: DeferWork): { dx: Floats | null; dy0: Floats };
  forwardInput(x: Floats, rows: number): Floats; // → x' [rows, in]
  /** Given dL/dx', returns dL/dx, adding the parameter gradients. */
  backwardInput(x: Floats, dxPrime: Floats, rows: number, grads: Grads): Floats;
}

/** Takes work that only accumulates parameter gradients, to be run later (see backwardOutput). */
export type DeferWork = (work: () => void) => void;

/** What the forward pass asks of an adapter: per-module actions and optional virtual tokens. */
export interface TapAdapter {
  module(layer: number, name: ModuleName): ModuleAdapter | undefined;
  /** Prompt tuning: embeddings of virtual tokens placed before the first real token, [n, dim]. */
  readonly promptEmbeddings?: Floats;
}
