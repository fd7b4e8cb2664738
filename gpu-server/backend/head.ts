/**
 * The training head of one sequence, after the final norm: logits = xf·Eᵀ (the lmHead group),
 * the masked mean cross-entropy at the targets, and its gradient back through the head,
 * dxf = dLogits·E. It is one backend op so that a device backend keeps the [rows, vocab] logits
 * and their gradient on the device — at a 32k vocabulary they are 8 MB each way per 64-row step,
 * against 0.2 MB for dxf — with one submit and one readback. Elsewhere the engine composes it
 * from lmHead GEMMs (through its batcher, so sessions share them) and the one-pass loss.
 */
import type { ModelConfig } from '../../shared/model/types';
import { BackendInputError } from './groups';
import { crossEntropyWithGradient } from './loss';
import type { Backend } from './types';

export interface TrainingHead {
  /** Mean of −log softmax(logits_r)[targets_r] over the rows with mask 1. */
  loss: number;
  /** dL/dxf [rows, dim]. */
  dxf: Float32Array;
  /** [rows, vocab], when asked for. */
  logits?: Float32Array;
}

/** Shapes, target ids and a 0/1 mask selecting at least one row; throws BackendInputError. */
export function checkTrainingHead(config: ModelConfig, xf: { readonly length: number }, targets: Int32Array, mask: Float32Array, rows: number): void {
  const { dim, vocabSize } = config;
  if (!Number.isInteger(rows) || rows < 1) throw new BackendInputError(`trainingHead: rows must be a positive integer, got ${rows}`);
  if (xf.length !== rows * dim) throw new BackendInputError(`trainingHead: xf has ${xf.length} elements, expected ${rows}×${dim}`);
  if (targets.length !== rows || mask.length !== rows) throw new BackendInputError(`trainingHead: ${rows} rows but ${targets.length} targets and ${mask.length} mask entries`);
  let count = 0;
  for (let r = 0; r < rows; r++) {
    if (mask[r] !== 0 && mask[r] !== 1) throw new BackendInputError(`trainingHead: mask[${r}] must be 0 or 1, got ${mask[r]}`);
    if (targets[r] < 0 || targets[r] >= vocabSize) throw new BackendInputError(`trainingHead: target ${targets[r]} at row ${r} is outside [0, ${vocabSize})`);
    count += mask[r];
  }
  if (count === 0) throw new BackendInputError('trainingHead: the mask selects no row');
}

/** The head from lmHead forward and backward GEMMs (a batcher's or a backend's) and the one-pass loss. */
export async function composedTrainingHead(backend: Pick<Backend, 'linear' | 'linearBackward'>, config: ModelConfig, xf: Float32Array, targets: Int32Array, mask: Float32Array, rows: number, returnLogits: boolean): Promise<TrainingHead> {
  checkTrainingHead(config, xf, targets, mask, rows);
  const logits = await backend.linear(0, 'lmHead', xf, rows); // [rows, vocab]
  // The gradient overwrites the logits unless the caller wants them back.
  const dLogits = returnLogits ? new Float32Array(logits.length) : logits;
  const loss = crossEntropyWithGradient(logits, targets, mask, config.vocabSize, dLogits);
  const dxf = await backend.linearBackward(0, 'lmHead', dLogits, rows); // [rows, dim]
  return returnLogits ? { loss, dxf, logits } : { loss, dxf };
}
