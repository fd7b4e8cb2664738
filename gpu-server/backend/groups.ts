/**
 * What every backend shares: the shape of each fused weight group, which stored matrices it
 * stacks (row blocks, in the order of types.ts), and the checks a call must pass before any
 * native code sees its data.
 */
import type { Floats, Model, ModelConfig } from '../../shared/model/types';
import { WEIGHT_GROUPS, type WeightGroup } from './types';

export interface GroupShape {
  inDim: number;
  outDim: number;
}

/** A weight group as stored: row blocks stacked in order (e.g. [Wq, Wk, Wv]), each [outᵢ, in]. */
export interface GroupWeights extends GroupShape {
  blocks: Floats[];
  /** Per-block biases (Qwen2's q/k/v), stacked like the blocks; absent when the group has none. */
  bias?: Floats[];
}

/** A call that cannot be run: wrong layer, group or length. Thrown before any native code runs. */
export class BackendInputError extends Error {
  override name = 'BackendInputError';
}

export function isWeightGroup(group: unknown): group is WeightGroup {
  return typeof group === 'string' && (WEIGHT_GROUPS as readonly string[]).includes(group);
}

/** [in, out] of a weight group. */
export function groupShape(config: ModelConfig, group: WeightGroup): GroupShape {
  const { dim, hiddenDim, nHeads, nKvHeads, headDim, vocabSize } = config;
  switch (group) {
    case 'qkv':
      return { inDim: dim, outDim: (nHeads + 2 * nKvHeads) * headDim };
    case 'o':
      return { inDim: nHeads * headDim, outDim: dim };
    case 'gateup':
      return { inDim: dim, outDim: 2 * hiddenDim };
    case 'down':
      return { inDim: hiddenDim, outDim: dim };
    case 'lmHead':
      return { inDim: dim, outDim: vocabSize };
  }
}

/** The stored matrices of a group (views of the model's arrays, nothing copied), shapes checked. */
export function groupWeights(model: Model, layer: number, group: WeightGroup): GroupWeights {
  const { config, weights } = model;
  const shape = groupShape(config, group);
  const L = group === 'lmHead' ? undefined : weights.layers[layer];
  if (group !== 'lmHead' && !L) throw new BackendInputError(`model has no layer ${layer}`);
  let blocks: Floats[];
  let names: string[];
  let bias: (Floats | undefined)[] | undefined;
  switch (group) {
    case 'qkv':
      blocks = [L!.wq, L!.wk, L!.wv];
      names = ['wq', 'wk', 'wv'];
      if (config.attentionBias) bias = [L!.bq, L!.bk, L!.bv];
      break;
    case 'o':
      [blocks, names] = [[L!.wo], ['wo']];
      break;
    case 'gateup':
      [blocks, names] = [[L!.wGate, L!.wUp], ['wGate', 'wUp']];
      break;
    case 'down':
      [blocks, names] = [[L!.wDown], ['wDown']];
      break;
    case 'lmHead':
      [blocks, names] = [[weights.lmHead], ['lmHead']];
      break;
  }
  const where = group === 'lmHead' ? 'lmHead' : `layer ${layer} ${group}`;
  const outs = blocks.map((b, i) => {
    if (!b || b.length % shape.inDim !== 0) throw new BackendInputError(`${where}: ${names[i]} has ${b?.length} elements, not a multiple of in = ${shape.inDim}`);
    return b.length / shape.inDim;
  });
  const total = outs.reduce((a, b) => a + b, 0);
  if (total !== shape.outDim) throw new BackendInputError(`${where}: weights stack to ${total} rows, expected ${shape.outDim}`);
  if (bias) {
    bias.forEach((b, i) => {
      if (!b || b.length !== outs[i]) throw new BackendInputError(`${where}: attentionBias is set but the bias of ${names[i]} has ${b?.length ?? 'no'} elements, expected ${outs[i]}`);
    });
  }
  return { ...shape, blocks, bias: bias as Floats[] | undefined };
}

/** Row blocks concatenated into one array of the first block's element type. */
export function stack(blocks: Floats[]): Floats {
  const n = blocks.reduce((a, b) => a + b.length, 0);
  const out = blocks[0] instanceof Float64Array ? new Float64Array(n) : new Float32Array(n);
  let offset = 0;
  for (const b of blocks) {
    out.set(b, offset);
    offset += b.length;
  }
  return out;
}

/**
 * Checks a call's arguments against the model; returns the group's shape. `data` is x [rows, in]
 * for the forward, dy [rows, out] for the backward.
 */
export function checkCall(config: ModelConfig, op: 'linear' | 'linearBackward', layer: number, group: WeightGroup, data: Float32Array, rows: number): GroupShape {
  if (!(data instanceof Float32Array)) throw new BackendInputError(`${op}(layer ${layer}, ${String(group)}): expected a Float32Array, got ${Object.prototype.toString.call(data)}`);
  return checkGroupCall(config, op, layer, group, data.length, rows);
}

/** checkCall on an input of `length` elements wherever it lives (a device tensor, say). */
export function checkGroupCall(config: ModelConfig, op: 'linear' | 'linearBackward', layer: number, group: WeightGroup, length: number, rows: number): GroupShape {
  const call = `${op}(layer ${layer}, ${String(group)})`;
  if (!isWeightGroup(group)) throw new BackendInputError(`${call}: unknown weight group ${JSON.stringify(group)} (expected one of ${WEIGHT_GROUPS.join(', ')})`);
  if (group !== 'lmHead' && !(Number.isInteger(layer) && layer >= 0 && layer < config.nLayers)) {
    throw new BackendInputError(`${call}: unknown layer ${layer} (the model has layers 0..${config.nLayers - 1})`);
  }
  if (!Number.isInteger(rows) || rows < 0) throw new BackendInputError(`${call}: rows must be a non-negative integer, got ${rows}`);
  const shape = groupShape(config, group);
  const width = op === 'linear' ? shape.inDim : shape.outDim;
  if (length !== rows * width) {
    const what = op === 'linear' ? 'x' : 'dy';
    throw new BackendInputError(`${call}: ${what} has ${length} elements, expected rows·${op === 'linear' ? 'in' : 'out'} = ${rows}·${width} = ${rows * width}`);
  }
  return shape;
}
