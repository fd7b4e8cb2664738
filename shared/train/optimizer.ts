/**
 * AdamW (Loshchilov & Hutter), as torch.optim.AdamW computes it, on the adapter's float32
 * parameters in place:
 *
 *   θ ← θ − lr·λ·θ                          (decoupled weight decay)
 *   m ← β1·m + (1 − β1)·g,  v ← β2·v + (1 − β2)·g²
 *   θ ← θ − lr · (m / (1 − β1ᵗ)) / (√(v / (1 − β2ᵗ)) + ε)
 *
 * Moments are float64 and part of the state, so a checkpoint resumes the exact trajectory.
 */
export interface AdamWConfig {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export const ADAMW_DEFAULTS: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };

export interface AdamWState {
  step: number;
  m: Record<string, Float64Array>;
  v: Record<string, Float64Array>;
}

export class AdamW {
  step = 0;
  private readonly m = new Map<string, Float64Array>();
  private readonly v = new Map<string, Float64Array>();

  constructor(
    private readonly params: Map<string, Float32Array>,
    readonly config: AdamWConfig = ADAMW_DEFAULTS,
  ) {
    for (const [name, p] of params) {
      this.m.set(name, new Float64Array(p.length));
      this.v.set(name, new Float64Array(p.length));
    }
  }

  /** One update with learning rate `lr`; a parameter without a gradient is only decayed, as in torch when grad is zero. */
  update(grads: ReadonlyMap<string, ArrayLike<number>>, lr: number): void {
    const { beta1, beta2, eps, weightDecay } = this.config;
    this.step++;
    const c1 = 1 - beta1 ** this.step;
    const c2 = 1 - beta2 ** this.step;
    for (const [name, p] of this.params) {
      const g = grads.get(name);
      const m = this.m.get(name)!;
      const v = this.v.get(name)!;
      for (let i = 0; i < p.length; i++) {
        const gi = g ? g[i] : 0;
        let theta = p[i] * (1 - lr * weightDecay);
        m[i] = beta1 * m[i] + (1 - beta1) * gi;
        v[i] = beta2 * v[i] + (1 - beta2) * gi * gi;
        theta -= (lr * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + eps);
        p[i] = theta;
      }
    }
  }

  state(): AdamWState {
    return { step: this.step, m: Object.fromEntries([...this.m].map(([k, a]) => [k, a.slice()])), v: Object.fromEntries([...this.v].map(([k, a]) => [k, a.slice()])) };
  }

  load(state: AdamWState): void {
    for (const name of this.params.keys()) {
      if (state.m[name]?.length !== this.m.get(name)!.length || state.v[name]?.length !== this.v.get(name)!.length) {
        throw new Error(`optimizer state does not match parameter "${name}"`);
      }
      this.m.get(name)!.set(state.m[name]);
      this.v.get(name)!.set(state.v[name]);
    }
    this.step = state.step;
  }
}

/** Scales all gradients so their global L2 norm is at most maxNorm (torch's clip_grad_norm_); returns the norm before clipping. */
export function clipGradNorm(grads: Map<string, Float64Array>, maxNorm: number): number {
  let ss = 0;
  for (const g of grads.values()) for (let i = 0; i < g.length; i++) ss += g[i] * g[i];
  const norm = Math.sqrt(ss);
  if (norm > maxNorm) {
    const scale = maxNorm / (norm + 1e-6);
    for (const g of grads.values()) for (let i = 0; i < g.length; i++) g[i] *= scale;
  }
  return norm;
}
