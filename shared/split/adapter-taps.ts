/**
 * The adapter's side of the taps: answers the server's tap requests from a TapAdapter (LoRA,
 * DoRA, IA3, …) exactly per the ModuleAdapter contract, and for training keeps what each
 * module's backward needs (its input x and, where sent, its frozen output y0) until backward.
 */
import type { ModelConfig } from '../model/types';
import { moduleDims } from '../model/dims';
import { MODULE_NAMES, type DeferWork, type Grads, type ModuleName, type TapAdapter } from '../adapters/taps';
import type { BackwardTap, BackwardTapAnswer, ForwardTap, ForwardTapAnswer } from '../protocol/exchange';
import type { TapPlanEntry } from '../protocol/messages';

/** The taps a session must declare for this adapter: every module it acts on. */
export function planFromAdapter(adapter: TapAdapter | undefined, config: ModelConfig): TapPlanEntry[] {
  if (!adapter) return [];
  const plan: TapPlanEntry[] = [];
  for (let layer = 0; layer < config.nLayers; layer++) {
    for (const module of MODULE_NAMES) {
      const m = adapter.module(layer, module);
      if (m) plan.push({ layer, module, form: m.form, needsBaseOutput: m.needsBaseOutput });
    }
  }
  return plan;
}

interface Kept {
  x: Float32Array;
  y0?: Float32Array;
}

export class AdapterTaps {
  /** Parameter gradients accumulated by backward, keyed by PEFT tensor name. */
  readonly grads: Grads = new Map();
  private kept = new Map<string, Kept>();
  /** The y0 of modules that do not read it (LoRA): one zero array per length, never written (taps.ts). */
  private readonly zeroY0 = new Map<number, Float32Array>();

  constructor(
    private readonly adapter: TapAdapter,
    private readonly config: ModelConfig,
    private readonly keepForBackward: boolean,
  ) {}

  private zeros(n: number): Float32Array {
    let z = this.zeroY0.get(n);
    if (!z) this.zeroY0.set(n, (z = new Float32Array(n)));
    return z;
  }

  private module(layer: number, name: ModuleName) {
    const m = this.adapter.module(layer, name);
    if (!m) throw new Error(`the server asked for layer ${layer} ${name}, which the adapter does not touch`);
    return m;
  }

  forward(tap: ForwardTap, modules: readonly ModuleName[]): ForwardTapAnswer {
    const answer: ForwardTapAnswer = {};
    for (const name of modules) {
      const m = this.module(tap.layer, name);
      if (this.keepForBackward) this.kept.set(`${tap.layer}:${name}`, { x: tap.x, y0: tap.y0[name] });
      if (tap.form === 'input') {
        answer[name] = m.forwardInput(tap.x, tap.rows) as Float32Array;
        continue;
      }
      // Without y0 (needsBaseOutput false) the adapter's output is additive: f(x, 0) is the change.
      const y0 = tap.y0[name] ?? this.zeros(tap.rows * moduleDims(this.config, name).outDim);
      const y = m.forwardOutput(tap.x, y0, tap.rows) as Float32Array;
      if (tap.y0[name]) for (let i = 0; i < y.length; i++) y[i] -= y0[i];
      answer[name] = y;
    }
    return answer;
  }

  /** `defer`: as ModuleAdapter.backwardOutput's — gradient-only work the caller runs before reading `grads`. */
  backward(tap: BackwardTap, defer?: DeferWork): BackwardTapAnswer {
    const answer: BackwardTapAnswer = { grads: {} };
    for (const name of Object.keys(tap.grads) as ModuleName[]) {
      const m = this.module(tap.layer, name);
      const kept = this.kept.get(`${tap.layer}:${name}`);
      if (!kept) throw new Error(`backward at layer ${tap.layer} ${name} without its forward`);
      const g = tap.grads[name]!;
      if (tap.form === 'input') {
        answer.grads[name] = m.backwardInput(kept.x, g, tap.rows, this.grads) as Float32Array;
        continue;
      }
      const y0 = kept.y0 ?? this.zeros(g.length);
      const { dx, dy0 } = m.backwardOutput(kept.x, y0, g, tap.rows, this.grads, defer);
      if (kept.y0) answer.grads[name] = Float32Array.from(dy0);
      if (dx) {
        // dx is ours (taps.ts): the first module's is kept as the sum, converted only if float64.
        if (!answer.dx) answer.dx = dx instanceof Float32Array ? dx : Float32Array.from(dx);
        else for (let i = 0; i < dx.length; i++) answer.dx[i] += dx[i];
      }
    }
    return answer;
  }

  /** Forgets the kept activations (after a backward) and, optionally, the gradients. */
  reset(opts: { grads: boolean }): void {
    this.kept.clear();
    if (opts.grads) this.grads.clear();
  }
}
