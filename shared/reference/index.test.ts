import { describe, expect, it } from 'vitest';
import { randomModel, tinyConfig } from '../model/random';
import * as reference from './index';

describe('shared/reference API', () => {
  it('exports the reference implementation', () => {
    for (const name of [
      'linear', 'linearBackward', 'rmsnorm', 'rmsnormBackward', 'rope', 'ropeBackward', 'attention', 'attentionBackward',
      'siluMul', 'siluMulBackward', 'gather', 'gatherBackward', 'add', 'softmax', 'crossEntropy', 'crossEntropyBackward',
      'createKVCache', 'forward', 'forwardEmbeddings', 'lossAndGradients', 'Sampler', 'samplingDistribution', 'generate',
    ]) {
      expect(typeof (reference as Record<string, unknown>)[name], name).toBe('function');
    }
  });

  it('is fast enough: 5 layers, dim 64, a 256-token prefill well under a second', () => {
    const config = tinyConfig({ dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512, maxSeqLen: 512 });
    const model = randomModel(config, 1);
    const tokens = Array.from({ length: 256 }, (_, i) => (i * 7) % config.vocabSize);
    reference.forward(model, tokens.slice(0, 16), reference.createKVCache(config, 16)); // warm up the JIT
    const t0 = performance.now();
    const logits = reference.forward(model, tokens, reference.createKVCache(config, 256));
    const ms = performance.now() - t0;
    expect(logits.length).toBe(256 * config.vocabSize);
    expect(ms).toBeLessThan(1000);
    const t1 = performance.now();
    reference.lossAndGradients(model, tokens, tokens.map((t) => (t + 1) % config.vocabSize), tokens.map(() => 1));
    const msTrain = performance.now() - t1;
    expect(msTrain).toBeLessThan(3000);
    console.log(`reference: 256-token prefill ${ms.toFixed(0)} ms, loss+gradients ${msTrain.toFixed(0)} ms`);
  });
});
