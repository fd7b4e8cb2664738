import { describe, expect, it } from 'vitest';
import { createLora } from '../adapters';
import { tinyConfig } from '../model/random';
import { decodeCheckpoint, encodeCheckpoint, restoreParams } from './checkpoint';
import { AdamW } from './optimizer';

describe('checkpoints', () => {
  it('round-trip parameters, float64 moments, step and cursor exactly', () => {
    const modelConfig = tinyConfig();
    const adapter = createLora({ modelConfig, r: 2, alpha: 4, targetModules: ['q_proj'], seed: 3 });
    const opt = new AdamW(adapter.params);
    const grads = new Map([...adapter.params].map(([k, p]) => [k, Float64Array.from(p, (_, i) => Math.sin(i) / 3)]));
    opt.update(grads, 0.01);
    opt.update(grads, 0.01);
    const state = { step: 2, cursor: { epoch: 1, index: 3 }, optimizer: opt.state() };
    const back = decodeCheckpoint(encodeCheckpoint(adapter, state));
    expect(back.state).toEqual(state);
    expect(back.adapterConfig).toEqual(adapter.config);
    const fresh = createLora({ modelConfig, r: 2, alpha: 4, targetModules: ['q_proj'], seed: 99 });
    restoreParams(fresh, back.params);
    expect([...fresh.params]).toEqual([...adapter.params]);
  });

  it('rejects what is not a checkpoint, or is cut short', () => {
    expect(() => decodeCheckpoint(new Uint8Array(16))).toThrow(/not a Symbiosis checkpoint/);
    const adapter = createLora({ modelConfig: tinyConfig(), r: 1, alpha: 1, targetModules: ['v_proj'], seed: 1 });
    const bytes = encodeCheckpoint(adapter, { step: 0, cursor: { epoch: 0, index: 0 }, optimizer: new AdamW(adapter.params).state() });
    expect(() => decodeCheckpoint(bytes.subarray(0, bytes.length - 5))).toThrow(/truncated/);
  });
});
