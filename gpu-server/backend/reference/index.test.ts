import { describe, expect, it } from 'vitest';
import { randomModel, tinyConfig } from '../../../shared/model/random';
import type { Floats } from '../../../shared/model/types';
import { linear, linearBackward } from '../../../shared/reference/ops';
import { BackendInputError } from '../groups';
import type { WeightGroup } from '../types';
import { ReferenceBackend } from './index';

const rand = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 1000 + i * 12.9898) * 0.7);

/** Columns [from, to) of a [rows, width] matrix. */
function columns(a: Float32Array, rows: number, width: number, from: number, to: number): Float32Array {
  const out = new Float32Array(rows * (to - from));
  for (let r = 0; r < rows; r++) out.set(a.subarray(r * width + from, r * width + to), r * (to - from));
  return out;
}

describe('ReferenceBackend', () => {
  // GQA (4 heads over 2 KV heads), Qwen2 biases: q 16, k 8, v 8 rows; gate and up 40 rows each.
  const config = tinyConfig({ architecture: 'Qwen2ForCausalLM', attentionBias: true });
  const model = randomModel(config, 11);
  const backend = new ReferenceBackend(model);
  const rows = 3;

  it('stacks q, k, v (with their biases) in that order in the qkv group', async () => {
    const L = model.weights.layers[1];
    const x = rand(rows * 16, 1);
    const y = await backend.linear(1, 'qkv', x, rows);
    expect(y.length).toBe(rows * 32);
    const parts: [Floats, Floats | undefined, number, number][] = [
      [L.wq, L.bq, 0, 16],
      [L.wk, L.bk, 16, 24],
      [L.wv, L.bv, 24, 32],
    ];
    for (const [w, b, from, to] of parts) expect(columns(y, rows, 32, from, to)).toEqual(linear(x, w, b, rows, 16, to - from));
    // backward: dx = dq·Wq + dk·Wk + dv·Wv
    const dy = rand(rows * 32, 2);
    const dx = await backend.linearBackward(1, 'qkv', dy, rows);
    const expected = new Float64Array(rows * 16);
    for (const [w, , from, to] of parts) linearBackward(columns(dy, rows, 32, from, to), w, rows, 16, to - from).forEach((v, i) => (expected[i] += v));
    for (let i = 0; i < dx.length; i++) expect(dx[i]).toBeCloseTo(expected[i], 6);
  });

  it('stacks gate before up in the gateup group; o, down and lmHead are the stored matrices', async () => {
    const L = model.weights.layers[0];
    const x = rand(rows * 16, 3);
    const y = await backend.linear(0, 'gateup', x, rows);
    expect(columns(y, rows, 80, 0, 40)).toEqual(linear(x, L.wGate, undefined, rows, 16, 40));
    expect(columns(y, rows, 80, 40, 80)).toEqual(linear(x, L.wUp, undefined, rows, 16, 40));
    expect(await backend.linear(0, 'o', x, rows)).toEqual(linear(x, L.wo, undefined, rows, 16, 16));
    const m = rand(rows * 40, 4);
    expect(await backend.linear(0, 'down', m, rows)).toEqual(linear(m, L.wDown, undefined, rows, 40, 16));
    expect(await backend.linear(7, 'lmHead', x, rows)).toEqual(linear(x, model.weights.lmHead, undefined, rows, 16, 37));
    const dLogits = rand(rows * 37, 5);
    expect(await backend.linearBackward(0, 'lmHead', dLogits, rows)).toEqual(linearBackward(dLogits, model.weights.lmHead, rows, 16, 37));
  });

  it('rejects bad input with a clear error', async () => {
    await expect(backend.linear(0, 'qkv', new Float32Array(15), 1)).rejects.toThrow(/x has 15 elements, expected rows·in = 1·16 = 16/);
    await expect(backend.linearBackward(0, 'qkv', new Float32Array(16), 1)).rejects.toThrow(/dy has 16 elements, expected rows·out = 1·32 = 32/);
    await expect(backend.linear(2, 'o', new Float32Array(16), 1)).rejects.toThrow(BackendInputError);
    await expect(backend.linear(0, 'ffn' as WeightGroup, new Float32Array(16), 1)).rejects.toThrow(/unknown weight group "ffn"/);
  });

  it('describes itself and refuses calls after dispose', async () => {
    const b = new ReferenceBackend(model);
    expect(b.info.name).toBe('reference');
    await b.dispose();
    await expect(b.linear(0, 'o', new Float32Array(16), 1)).rejects.toThrow(/used after dispose/);
  });
});
