/**
 * IA3 on one linear module, as PEFT computes it:
 *  - output form (not a feed-forward module): y = y0 ⊙ l, l = `ia3_l` [out, 1]; the bias,
 *    part of y0, is scaled too (PEFT scales the base layer's whole result);
 *  - input form (feed-forward module): the frozen layer sees x' = x ⊙ l, l = `ia3_l` [1, in].
 */
import type { Floats } from '../model/types';
import { checkLength, floatsLike, gradSlot } from './floats';
import type { Grads, ModuleAdapter } from './taps';

export class Ia3OutputModule implements ModuleAdapter {
  readonly form = 'output' as const;
  readonly needsBaseOutput = true;

  /** l: [out] (`ia3_l` of shape [out, 1]) */
  constructor(
    readonly l: Floats,
    readonly outDim: number,
    readonly key: string,
  ) {
    checkLength('ia3_l', l, outDim);
  }

  forwardOutput(x: Floats, y0: Floats, rows: number): Floats {
    const { l, outDim } = this;
    checkLength('IA3 base output y0', y0, rows * outDim);
    const y = floatsLike(x, rows * outDim);
    for (let t = 0; t < rows; t++) for (let o = 0; o < outDim; o++) y[t * outDim + o] = y0[t * outDim + o] * l[o];
    return y;
  }

  backwardOutput(x: Floats, y0: Floats, dy: Floats, rows: number, grads: Grads): { dx: Floats | null; dy0: Floats } {
    const { l, outDim } = this;
    checkLength('IA3 dy', dy, rows * outDim);
    const dl = gradSlot(grads, this.key, outDim);
    const dy0 = floatsLike(x, rows * outDim);
    for (let t = 0; t < rows; t++) {
      for (let o = 0; o < outDim; o++) {
        const j = t * outDim + o;
        dy0[j] = dy[j] * l[o];
        dl[o] += dy[j] * y0[j];
      }
    }
    return { dx: null, dy0 };
  }

  forwardInput(_x: Floats, _rows: number): Floats {
    throw new Error('IA3 on a non-feed-forward module scales its output, not its input');
  }

  backwardInput(_x: Floats, _dxPrime: Floats, _rows: number, _grads: Grads): Floats {
    throw new Error('IA3 on a non-feed-forward module scales its output, not its input');
  }
}

export class Ia3InputModule implements ModuleAdapter {
  readonly form = 'input' as const;
  readonly needsBaseOutput = false;

  /** l: [in] (`ia3_l` of shape [1, in]) */
  constructor(
    readonly l: Floats,
    readonly inDim: number,
    readonly key: string,
  ) {
    checkLength('ia3_l', l, inDim);
  }

  forwardOutput(_x: Floats, _y0: Floats, _rows: number): Floats {
    throw new Error('IA3 on a feed-forward module scales its input, not its output');
  }

  backwardOutput(_x: Floats, _y0: Floats, _dy: Floats, _rows: number, _grads: Grads): { dx: Floats | null; dy0: Floats } {
    throw new Error('IA3 on a feed-forward module scales its input, not its output');
  }

  forwardInput(x: Floats, rows: number): Floats {
    const { l, inDim } = this;
    checkLength('IA3 input x', x, rows * inDim);
    const xp = floatsLike(x, rows * inDim);
    for (let t = 0; t < rows; t++) for (let i = 0; i < inDim; i++) xp[t * inDim + i] = x[t * inDim + i] * l[i];
    return xp;
  }

  backwardInput(x: Floats, dxPrime: Floats, rows: number, grads: Grads): Floats {
    const { l, inDim } = this;
    checkLength('IA3 dx\'', dxPrime, rows * inDim);
    const dl = gradSlot(grads, this.key, inDim);
    const dx = floatsLike(x, rows * inDim);
    for (let t = 0; t < rows; t++) {
      for (let i = 0; i < inDim; i++) {
        const j = t * inDim + i;
        dx[j] = dxPrime[j] * l[i];
        dl[i] += dxPrime[j] * x[j];
      }
    }
    return dx;
  }
}
