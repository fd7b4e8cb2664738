/**
 * The training loss and its gradient in one pass over the logits: the reference computes
 * crossEntropy (one exp per logit) and crossEntropyBackward (a softmax: two more), over
 * [rows, vocab] — 2M logits for 64 rows of a 32k vocabulary. Here each logit is exponentiated
 * once, in float64 SIMD (wasm/exp-shift.ts: 5.5 against 10–11 ns a logit), and the gradient is
 * written over the logits themselves when the caller no longer needs them (no second
 * [rows, vocab] array). Same definitions as shared/reference/ops:
 *   loss = mean over masked-in rows of (log Σᵢ exp(lᵢ) − l_target);  dL/dl = (softmax(l) − onehot) / count.
 */
import { checkLoss } from '../../shared/reference/ops';
import { expShiftSum } from './wasm/exp-shift';

export function crossEntropyWithGradient(logits: Float32Array, targets: Int32Array, mask: Float32Array, vocab: number, out: Float32Array): number {
  const rows = targets.length;
  const count = checkLoss(logits, targets, mask, rows, vocab);
  if (out.length !== logits.length) throw new Error(`crossEntropy: out holds ${out.length} elements, the logits ${logits.length}`);
  let total = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * vocab;
    if (mask[r] === 0) {
      out.fill(0, o, o + vocab);
      continue;
    }
    let max = -Infinity;
    for (let i = o; i < o + vocab; i++) if (logits[i] > max) max = logits[i];
    const target = logits[o + targets[r]]; // read before `out` may overwrite it
    // out = softmax / count: e^(l − max) in float64 SIMD, scaled by 1 / (Σ · count)
    const sum = expShiftSum(logits.subarray(o, o + vocab), max, out.subarray(o, o + vocab), (s) => 1 / (s * count));
    total += Math.log(sum) + max - target;
    out[o + targets[r]] -= 1 / count;
  }
  return count === 0 ? 0 : total / count;
}
