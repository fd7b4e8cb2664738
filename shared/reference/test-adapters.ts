/**
 * Tiny adapters for tests of the tap plumbing, independent of the real adapters
 * (shared/adapters): the forward and backward of a model with these must match finite
 * differences, which validates how forward.ts / train.ts call the ModuleAdapter contract.
 *
 *  - output form:  y = y0 ⊙ s + x·Cᵀ   (s [out], C [out, in]): reads y0 and has its own dx
 *  - input form:   x' = x ⊙ l          (l [in])
 */
import type { Floats, ModelConfig } from '../model/types';
import { MODULE_NAMES, type Grads, type ModuleAdapter, type ModuleName, type TapAdapter } from '../adapters/taps';
import { Rng } from '../util/rng';
import { zerosLike } from './ops';

function slot(grads: Grads, key: string, n: number): Float64Array {
  let g = grads.get(key);
  if (!g) grads.set(key, (g = new Float64Array(n)));
  return g;
}

export class ScaleAndDeltaAdapter implements ModuleAdapter {
  readonly form = 'output';
  readonly needsBaseOutput = true;
  constructor(
    readonly key: string,
    readonly s: Float64Array, // [out]
    readonly c: Float64Array, // [out, in]
    readonly inDim: number,
    readonly outDim: number,
  ) {}

  forwardOutput(x: Floats, y0: Floats, rows: number): Floats {
    const { inDim, outDim, s, c } = this;
    const y = zerosLike(y0, rows * outDim);
    for (let r = 0; r < rows; r++) {
      for (let o = 0; o < outDim; o++) {
        let acc = y0[r * outDim + o] * s[o];
        for (let i = 0; i < inDim; i++) acc += x[r * inDim + i] * c[o * inDim + i];
        y[r * outDim + o] = acc;
      }
    }
    return y;
  }

  backwardOutput(x: Floats, y0: Floats, dy: Floats, rows: number, grads: Grads): { dx: Floats | null; dy0: Floats } {
    const { inDim, outDim, s, c } = this;
    const ds = slot(grads, `${this.key}.s`, outDim);
    const dc = slot(grads, `${this.key}.C`, outDim * inDim);
    const dx = zerosLike(dy, rows * inDim);
    const dy0 = zerosLike(dy, rows * outDim);
    for (let r = 0; r < rows; r++) {
      for (let o = 0; o < outDim; o++) {
        const g = dy[r * outDim + o];
        dy0[r * outDim + o] = g * s[o];
        ds[o] += g * y0[r * outDim + o];
        for (let i = 0; i < inDim; i++) {
          dc[o * inDim + i] += g * x[r * inDim + i];
          dx[r * inDim + i] += g * c[o * inDim + i];
        }
      }
    }
    return { dx, dy0 };
  }

  forwardInput(): Floats {
    throw new Error('output-form adapter');
  }
  backwardInput(): Floats {
    throw new Error('output-form adapter');
  }
}

export class InputScaleAdapter implements ModuleAdapter {
  readonly form = 'input';
  readonly needsBaseOutput = false;
  constructor(
    readonly key: string,
    readonly l: Float64Array, // [in]
    readonly inDim: number,
  ) {}

  forwardInput(x: Floats, rows: number): Floats {
    const xp = zerosLike(x, rows * this.inDim);
    for (let k = 0; k < xp.length; k++) xp[k] = x[k] * this.l[k % this.inDim];
    return xp;
  }

  backwardInput(x: Floats, dxPrime: Floats, rows: number, grads: Grads): Floats {
    const dl = slot(grads, `${this.key}.l`, this.inDim);
    const dx = zerosLike(dxPrime, rows * this.inDim);
    for (let k = 0; k < dx.length; k++) {
      dx[k] = dxPrime[k] * this.l[k % this.inDim];
      dl[k % this.inDim] += dxPrime[k] * x[k];
    }
    return dx;
  }

  forwardOutput(): Floats {
    throw new Error('input-form adapter');
  }
  backwardOutput(): { dx: Floats | null; dy0: Floats } {
    throw new Error('input-form adapter');
  }
}

/** [in, out] of each module. */
export function moduleDims(config: ModelConfig, name: ModuleName): [number, number] {
  const { dim, hiddenDim, nHeads, nKvHeads, headDim } = config;
  switch (name) {
    case 'q_proj':
      return [dim, nHeads * headDim];
    case 'k_proj':
    case 'v_proj':
      return [dim, nKvHeads * headDim];
    case 'o_proj':
      return [nHeads * headDim, dim];
    case 'gate_proj':
    case 'up_proj':
      return [dim, hiddenDim];
    case 'down_proj':
      return [hiddenDim, dim];
  }
}

export interface TestAdapterSpec {
  /** Modules with the output-form adapter. */
  output?: readonly ModuleName[];
  /** Modules with the input-form adapter. */
  input?: readonly ModuleName[];
  /** Layers to adapt (default all). */
  layers?: readonly number[];
  /** Number of virtual prompt tokens (default 0). */
  nVirtual?: number;
  /** Scale of the parameters' random part (default 0.1); 0 gives the identity adapter. */
  scale?: number;
}

/** A TapAdapter of test adapters; `params` holds its live parameter arrays (mutate to perturb). */
export function testAdapter(config: ModelConfig, seed: number, spec: TestAdapterSpec): { adapter: TapAdapter; params: Map<string, Float64Array> } {
  const rng = new Rng(seed);
  const scale = spec.scale ?? 0.1;
  const params = new Map<string, Float64Array>();
  const random = (n: number, mean: number) => Float64Array.from({ length: n }, () => mean + scale * rng.normal());
  const modules = new Map<string, ModuleAdapter>();
  const layers = spec.layers ?? Array.from({ length: config.nLayers }, (_, l) => l);
  for (const l of layers) {
    for (const name of MODULE_NAMES) {
      const key = `layers.${l}.${name}`;
      const [inDim, outDim] = moduleDims(config, name);
      if (spec.output?.includes(name)) {
        const s = random(outDim, 1);
        const c = random(outDim * inDim, 0);
        params.set(`${key}.s`, s);
        params.set(`${key}.C`, c);
        modules.set(key, new ScaleAndDeltaAdapter(key, s, c, inDim, outDim));
      } else if (spec.input?.includes(name)) {
        const lv = random(inDim, 1);
        params.set(`${key}.l`, lv);
        modules.set(key, new InputScaleAdapter(key, lv, inDim));
      }
    }
  }
  const nVirtual = spec.nVirtual ?? 0;
  let promptEmbeddings: Float64Array | undefined;
  if (nVirtual > 0) {
    promptEmbeddings = Float64Array.from({ length: nVirtual * config.dim }, () => rng.normal());
    params.set('prompt_embeddings', promptEmbeddings);
  }
  const adapter: TapAdapter = {
    module: (layer, name) => modules.get(`layers.${layer}.${name}`),
    promptEmbeddings,
  };
  return { adapter, params };
}
