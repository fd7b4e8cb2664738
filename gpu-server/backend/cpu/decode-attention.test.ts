/**
 * Decode attention in WebAssembly against the reference attention. The kernel sums in float32
 * (four lanes, four keys apart) where the reference sums in float64, so each output must match
 * to 2e-6 absolute (outputs are O(1): weighted means of values in [-1, 1)).
 */
import { describe, expect, it, vi } from 'vitest';
import { randomFloats } from '../../testing/numeric';
import { randomModel, tinyConfig } from '../../../shared/model/random';
import type { TapExchange } from '../../../shared/protocol/exchange';
import { attention } from '../../../shared/reference/ops';
import { Engine } from '../../engine';
import { createBackend } from '../index';
import type { Backend } from '../types';
import { DecodeAttention, MAX_PAGES } from './decode-attention';

// [nHeads, nKvHeads, headDim]: the 30m preset's, stories260K's, groups of 3 and 1, a width with 16-column blocks and a 4-column rest.
const SHAPES = [[8, 4, 64], [8, 4, 8], [6, 2, 4], [3, 3, 12], [2, 1, 20]];
// Positions seen: one, fewer than four, blocks of four with and without a rest, a long context.
const POSITIONS = [1, 3, 4, 5, 17, 300];

const maxError = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

describe('DecodeAttention (WebAssembly SIMD)', () => {
  for (const [nHeads, nKvHeads, headDim] of SHAPES) {
    it(`= reference attention for one row (heads ${nHeads}/${nKvHeads} × ${headDim}) at ${POSITIONS.join(', ')} positions`, () => {
      const kvDim = nKvHeads * headDim;
      const decode = new DecodeAttention({ nHeads, nKvHeads, headDim });
      const capacity = 320;
      const [first, second] = decode.allocate(2, capacity * kvDim)!;
      // The second layer's cache is the one read, so reading past the first's would show.
      second.k.set(randomFloats(capacity * kvDim, 11));
      second.v.set(randomFloats(capacity * kvDim, 12));
      first.k.fill(1e3);
      first.v.fill(-1e3);
      for (const n of POSITIONS) {
        const shape = { rows: 1, pos0: n - 1, nHeads, nKvHeads, headDim };
        const q = randomFloats(nHeads * headDim, n);
        const out = decode.attend(q, second.k, second.v, shape);
        expect(out.length).toBe(nHeads * headDim);
        expect(maxError(out, attention(q, second.k, second.v, shape))).toBeLessThanOrEqual(2e-6);
      }
    });
  }

  it('stays close when scores span a thousand (softmax subtracts each row\'s maximum, not a lane\'s)', () => {
    const [nHeads, nKvHeads, headDim] = [4, 2, 16];
    const decode = new DecodeAttention({ nHeads, nKvHeads, headDim });
    const [{ k, v }] = decode.allocate(1, 64 * nKvHeads * headDim)!;
    k.set(randomFloats(k.length, 21));
    v.set(randomFloats(v.length, 22));
    for (const n of [5, 37]) {
      const shape = { rows: 1, pos0: n - 1, nHeads, nKvHeads, headDim };
      const q = randomFloats(nHeads * headDim, 23 + n, 1000); // scores spread over a thousand or so
      // float32 scores of ~1000 are off by ~6e-5, and the probabilities by as much, relatively;
      // without the maximum subtracted, e^x would saturate at its clamp and miss by O(1)
      expect(maxError(decode.attend(q, k, v, shape), attention(q, k, v, shape))).toBeLessThanOrEqual(5e-4);
    }
  });

  it('allocates zeroed, disjoint, 16-byte-aligned caches in a memory per session', () => {
    const decode = new DecodeAttention({ nHeads: 4, nKvHeads: 2, headDim: 8 });
    const layers = decode.allocate(3, 10 * 16)!;
    const other = decode.allocate(3, 10 * 16)!;
    for (const { k, v } of layers) {
      expect(k.length).toBe(160);
      expect(k.every((x) => x === 0) && v.every((x) => x === 0)).toBe(true);
      expect(k.byteOffset % 16).toBe(0);
      expect(v.byteOffset % 16).toBe(0);
      k.fill(1);
      v.fill(2);
    }
    expect(layers.flatMap(({ k, v }) => [...k, ...v]).reduce((a, x) => a + x, 0)).toBe(3 * 160 * 3);
    expect(other[0].k.buffer).not.toBe(layers[0].k.buffer);
    expect(decode.holds(layers[1].k, layers[1].v)).toBe(true);
    expect(decode.holds(layers[1].k, other[1].v)).toBe(false); // two sessions' arrays
    expect(decode.holds(new Float32Array(160), new Float32Array(160))).toBe(false);
  });

  it('refuses what it was not built for, by name', () => {
    const decode = new DecodeAttention({ nHeads: 4, nKvHeads: 2, headDim: 8 });
    const [{ k, v }] = decode.allocate(1, 10 * 16)!;
    const q = randomFloats(32, 1);
    expect(() => decode.attend(q, new Float32Array(160), new Float32Array(160), { rows: 1, pos0: 0, nHeads: 4, nKvHeads: 2, headDim: 8 })).toThrow(/not one of its session caches/);
    expect(() => decode.attend(randomFloats(64, 1), k, v, { rows: 2, pos0: 0, nHeads: 4, nKvHeads: 2, headDim: 8 })).toThrow(/one row/);
    expect(() => decode.attend(q, k, v, { rows: 1, pos0: 10, nHeads: 4, nKvHeads: 2, headDim: 8 })).toThrow();
    expect(() => new DecodeAttention({ nHeads: 4, nKvHeads: 2, headDim: 6 })).toThrow(/multiple of 4/);
    expect(() => decode.allocate(1, 17)).toThrow(/whole rows/);
  });

  it('leaves a cache over 4 GiB to plain arrays (undefined), as a 7B model\'s 4k context would need', () => {
    const decode = new DecodeAttention({ nHeads: 32, nKvHeads: 32, headDim: 128 }); // Llama-2 7B
    const floats = 4096 * 32 * 128; // 4k positions
    expect(decode.pages(32, floats)).toBeGreaterThan(MAX_PAGES);
    expect(decode.allocate(32, floats)).toBeUndefined();
    expect(decode.pages(32, floats / 2)).toBeLessThanOrEqual(MAX_PAGES); // 2k positions (2 GiB) fit
  });
});

describe('the engine on the cpu backend', () => {
  it('keeps each session\'s K/V cache in WebAssembly memory and decodes there, as the reference engine decodes', async () => {
    const config = tinyConfig({ dim: 32, nHeads: 4 }); // headDim 8
    const model = randomModel(config, 5);
    const claims = { tenant: 't', exp: 0, jti: 'j', limits: { maxSessions: 8, maxContext: 32, maxMemoryBytes: 2 ** 30 } };
    const noTaps: TapExchange = { forward: () => Promise.reject(new Error('no taps')), backward: () => Promise.reject(new Error('no taps')) };
    const decodeAll = async (backend: Backend) => {
      const engine = new Engine(model, backend, { maxBatchRows: 64 });
      const prompts = [[1, 5, 9], [2, 7], [4, 4, 8, 3]].map((p) => Int32Array.from(p));
      const sessions = prompts.map(() => engine.open(claims, { mode: 'inference', maxContext: 16, taps: [] }));
      const tokens = prompts.map(() => [] as number[]);
      let inputs = prompts;
      for (let step = 0; step < 6; step++) {
        const results = await Promise.all(sessions.map((s, i) => engine.infer(s, noTaps, inputs[i], { logprobs: 0, returnLogits: false })));
        results.forEach((r, i) => tokens[i].push(r.token));
        inputs = results.map((r) => Int32Array.of(r.token));
      }
      for (const s of sessions) engine.close(s);
      return tokens;
    };
    const cpu = await createBackend(model, 'cpu');
    const reference = await createBackend(model, 'reference');
    const attend = vi.spyOn(DecodeAttention.prototype, 'attend');
    try {
      expect(await decodeAll(cpu)).toEqual(await decodeAll(reference));
      // Every decode row of every layer (the prompts' rows run in onnxruntime): 3 sessions × 5 steps × 2 layers.
      expect(attend).toHaveBeenCalledTimes(3 * 5 * config.nLayers);
    } finally {
      attend.mockRestore();
      await cpu.dispose();
      await reference.dispose();
    }
  });
});
