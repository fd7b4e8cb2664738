/**
 * The fused loss against the reference crossEntropy and crossEntropyBackward: the loss to 1e-12
 * relative (both sum in float64), the gradient to 1e-7 absolute (float32 results of O(1/count)
 * values, rounded at different steps).
 */
import { describe, expect, it } from 'vitest';
import { crossEntropy, crossEntropyBackward } from '../../shared/reference/ops';
import { crossEntropyWithGradient } from './loss';

const logitsOf = (rows: number, vocab: number) => Float32Array.from({ length: rows * vocab }, (_, i) => 8 * Math.sin(i * 12.9898) * Math.cos(i * 0.37));

describe('crossEntropyWithGradient', () => {
  const rows = 5;
  const vocab = 37;
  const targets = Int32Array.of(3, 0, 36, 7, 7);
  const mask = Float32Array.of(1, 0, 1, 1, 1);

  it('= the reference loss and gradient, into a separate array and over the logits themselves', () => {
    const logits = logitsOf(rows, vocab);
    const refLoss = crossEntropy(logits, Array.from(targets), Array.from(mask), rows, vocab);
    const refGrad = crossEntropyBackward(logits, Array.from(targets), Array.from(mask), rows, vocab);
    const out = new Float32Array(logits.length);
    const loss = crossEntropyWithGradient(logits, targets, mask, vocab, out);
    expect(Math.abs(loss - refLoss) / refLoss).toBeLessThan(1e-12);
    const maxDiff = (a: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - refGrad[i])), 0);
    expect(maxDiff(out)).toBeLessThanOrEqual(1e-7);
    expect(out.subarray(vocab, 2 * vocab).every((x) => x === 0)).toBe(true); // the masked-out row
    const inPlace = logits.slice();
    expect(crossEntropyWithGradient(inPlace, targets, mask, vocab, inPlace)).toBe(loss);
    expect(inPlace).toEqual(out);
  });

  it('rejects bad masks, targets and shapes by name', () => {
    const logits = logitsOf(rows, vocab);
    const out = new Float32Array(logits.length);
    expect(() => crossEntropyWithGradient(logits, targets, Float32Array.of(1, 0.5, 1, 1, 1), vocab, out)).toThrow(/mask\[1\]/);
    expect(() => crossEntropyWithGradient(logits, Int32Array.of(3, 0, 37, 7, 7), mask, vocab, out)).toThrow(/target 37 at row 2/);
    expect(() => crossEntropyWithGradient(logits, targets, mask, vocab + 1, out)).toThrow(/crossEntropy logits: expected 190 elements, got 185/);
  });
});
