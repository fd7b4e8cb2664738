/**
 * The training head on every backend against the plain reference composition: logits = xf·Eᵀ,
 * crossEntropy, crossEntropyBackward, dxf = dLogits·E (shared/reference). Tolerance: loss 1e-5
 * relative, dxf and logits 1e-4 of their largest magnitude (float32 GEMMs over dim 48; webgpu on
 * lavapipe with f32 weights, as in CI).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomModel, tinyConfig } from '../../shared/model/random';
import { crossEntropy, crossEntropyBackward, linear, linearBackward } from '../../shared/reference/ops';
import { expectCloseToScale, randomFloats } from '../testing/numeric';
import { backendTrainingHead } from '../testing/head';
import { createBackend } from './index';
import type { Backend } from './types';

// A vocabulary wider than the kernels' 64-thread rows and tiles, and rows past one 16-row tile.
const config = tinyConfig({ dim: 48, nHeads: 4, vocabSize: 300 });
const model = randomModel(config, 5);
const { dim, vocabSize: vocab } = config;
const E = model.weights.lmHead;

function reference(xf: Float32Array, targets: Int32Array, mask: Float32Array, rows: number) {
  const logits = linear(xf, E, undefined, rows, dim, vocab) as Float32Array;
  const loss = crossEntropy(logits, Array.from(targets), Array.from(mask), rows, vocab);
  const dLogits = crossEntropyBackward(logits, Array.from(targets), Array.from(mask), rows, vocab);
  return { loss, logits, dxf: linearBackward(Float32Array.from(dLogits), E, rows, dim, vocab) };
}

describe.each(['reference', 'cpu', 'webgpu'] as const)('trainingHead (%s backend)', (kind) => {
  let backend: Backend;
  // The backend's own op where it has one (webgpu), else the composition the engine runs.
  const runHead = (xf: Float32Array, targets: Int32Array, mask: Float32Array, rows: number, returnLogits: boolean) => backendTrainingHead(backend, config, xf, targets, mask, rows, returnLogits);
  beforeAll(async () => {
    backend = await createBackend(model, kind, { weights: 'f32', threads: 1 });
    expect(backend.activations?.trainingHead !== undefined).toBe(kind === 'webgpu');
  });
  afterAll(() => backend?.dispose());

  it.each([1, 7, 33])('equals the reference composition at %i rows, with and without the logits back', async (rows) => {
    const xf = randomFloats(rows * dim, rows);
    const targets = Int32Array.from({ length: rows }, (_, r) => (r * 97 + 13) % vocab);
    const mask = Float32Array.from({ length: rows }, (_, r) => (rows > 1 && r % 3 === 1 ? 0 : 1));
    const want = reference(xf, targets, mask, rows);
    const head = await runHead(xf, targets, mask, rows, false);
    expect(Math.abs(head.loss - want.loss) / want.loss).toBeLessThan(1e-5);
    expect(head.logits).toBeUndefined();
    expectCloseToScale(head.dxf, want.dxf, 1e-4, `${kind} dxf`);
    const withLogits = await runHead(xf, targets, mask, rows, true);
    expectCloseToScale(withLogits.logits!, want.logits, 1e-4, `${kind} logits`);
    expectCloseToScale(withLogits.dxf, want.dxf, 1e-4, `${kind} dxf (logits asked)`);
  });

  it.each([
    ['a target outside the vocabulary', () => [randomFloats(2 * dim, 1), Int32Array.of(0, vocab), Float32Array.of(1, 1), 2], /target 300 at row 1 is outside \[0, 300\)/],
    ['a mask entry other than 0 or 1', () => [randomFloats(2 * dim, 1), Int32Array.of(0, 1), Float32Array.of(1, 0.5), 2], /mask\[1\] must be 0 or 1/],
    ['a mask selecting no row', () => [randomFloats(2 * dim, 1), Int32Array.of(0, 1), Float32Array.of(0, 0), 2], /selects no row/],
    ['xf of the wrong length', () => [randomFloats(2 * dim - 1, 1), Int32Array.of(0, 1), Float32Array.of(1, 1), 2], /xf has 95 elements, expected 2×48/],
    ['fewer targets than rows', () => [randomFloats(2 * dim, 1), Int32Array.of(0), Float32Array.of(1, 1), 2], /2 rows but 1 targets/],
  ] as const)('refuses %s, naming it', async (_what, args, message) => {
    const [xf, targets, mask, rows] = args() as [Float32Array, Int32Array, Float32Array, number];
    await expect(runHead(xf, targets, mask, rows, false)).rejects.toThrow(message);
    // and the backend still serves the next call
    const ok = await runHead(randomFloats(dim, 2), Int32Array.of(3), Float32Array.of(1), 1, false);
    expect(ok.dxf.length).toBe(dim);
  });
});
