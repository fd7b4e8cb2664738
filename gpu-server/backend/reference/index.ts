/**
 * The reference backend: the plain JavaScript ops of shared/reference (float64 accumulation),
 * the oracle the other backends are tested against. Slow (~1 GFLOP/s); for tests and tiny models.
 * Fused groups (qkv, gateup) are concatenated once, at creation, like a real backend would.
 */
import type { Floats, Model, ModelConfig } from '../../../shared/model/types';
import { attention, attentionBackward, linear, linearBackward, type AttentionShape } from '../../../shared/reference/ops';
import { checkCall, groupWeights, stack } from '../groups';
import type { AttentionGradients, Backend, BackendInfo, WeightGroup } from '../types';

interface FusedGroup {
  weight: Floats; // [out, in]
  bias?: Floats; // [out]
  inDim: number;
  outDim: number;
}

export class ReferenceBackend implements Backend {
  readonly info: BackendInfo = { name: 'reference', device: 'JavaScript reference ops (float64 accumulation)' };
  private readonly config: ModelConfig;
  private readonly layers: Map<WeightGroup, FusedGroup>[];
  private readonly lmHead: FusedGroup;
  private disposed = false;

  constructor(model: Model) {
    this.config = model.config;
    const fuse = (layer: number, group: WeightGroup): FusedGroup => {
      const g = groupWeights(model, layer, group);
      // A single block is used as stored; only fused groups get a (one-time) concatenated copy.
      const weight = g.blocks.length === 1 ? g.blocks[0] : stack(g.blocks);
      return { weight, bias: g.bias && stack(g.bias), inDim: g.inDim, outDim: g.outDim };
    };
    this.layers = model.weights.layers.map((_, l) => new Map((['qkv', 'o', 'gateup', 'down'] as const).map((g) => [g, fuse(l, g)])));
    this.lmHead = fuse(0, 'lmHead');
  }

  private group(op: 'linear' | 'linearBackward', layer: number, group: WeightGroup, data: Float32Array, rows: number): FusedGroup {
    if (this.disposed) throw new Error('reference backend: used after dispose()');
    checkCall(this.config, op, layer, group, data, rows);
    return group === 'lmHead' ? this.lmHead : this.layers[layer].get(group)!;
  }

  async linear(layer: number, group: WeightGroup, x: Float32Array, rows: number): Promise<Float32Array> {
    const g = this.group('linear', layer, group, x, rows);
    return linear(x, g.weight, g.bias, rows, g.inDim, g.outDim);
  }

  async linearBackward(layer: number, group: WeightGroup, dy: Float32Array, rows: number): Promise<Float32Array> {
    const g = this.group('linearBackward', layer, group, dy, rows);
    return linearBackward(dy, g.weight, rows, g.inDim, g.outDim);
  }

  async attention(q: Float32Array, k: Float32Array, v: Float32Array, shape: AttentionShape): Promise<Float32Array> {
    return attention(q, k, v, shape);
  }

  async attentionBackward(dOut: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, shape: AttentionShape): Promise<AttentionGradients> {
    return attentionBackward(dOut, q, k, v, shape);
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    this.layers.length = 0;
  }
}
