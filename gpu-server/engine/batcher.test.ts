/**
 * The batcher's attention paths: on a backend with attentionBatch / attentionBackwardBatch
 * (webgpu, lavapipe here and in CI) the calls of one event-loop turn become one backend op, and a
 * bad call fails alone; on one without (cpu) each call goes straight to the backend.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomModel, tinyConfig } from '../../shared/model/random';
import { attention, attentionBackward } from '../../shared/reference/ops';
import { createBackend } from '../backend';
import type { AttentionCall, Backend } from '../backend/types';
import { expectCloseToScale, randomFloats } from '../testing/numeric';
import { HostActivations, HostScope } from '../backend/host-activations';
import { Batcher } from './batcher';

const scope = new HostScope();

const config = tinyConfig();
const model = randomModel(config, 4);
const { nHeads, nKvHeads, headDim } = config;
const kvDim = nKvHeads * headDim;

function call(rows: number, pos0: number, seed: number): AttentionCall {
  const keys = pos0 + rows;
  return { q: randomFloats(rows * nHeads * headDim, seed), k: randomFloats(keys * kvDim, seed + 1), v: randomFloats(keys * kvDim, seed + 2), shape: { rows, pos0, nHeads, nKvHeads, headDim } };
}

describe.each(['webgpu', 'cpu'] as const)('Batcher.attention (%s backend)', (kind) => {
  let backend: Backend;
  const batches: number[] = [];
  const backwardBatches: number[] = [];
  beforeAll(async () => {
    backend = await createBackend(model, kind, { weights: 'f32', threads: 1 });
    const batch = backend.attentionBatch?.bind(backend);
    if (batch) backend.attentionBatch = (calls) => (batches.push(calls.length), batch(calls));
    const backwardBatch = backend.attentionBackwardBatch?.bind(backend);
    if (backwardBatch) backend.attentionBackwardBatch = (calls) => (backwardBatches.push(calls.length), backwardBatch(calls));
  });
  afterAll(() => backend?.dispose());

  it('gathers the calls of one turn where the backend batches, and a bad call fails alone', async () => {
    batches.length = 0;
    const batcher = new Batcher(new HostActivations(backend), config, 256);
    const good = [call(1, 4, 10), call(3, 0, 20), call(1, 0, 30)];
    const bad = { ...call(2, 1, 40), q: new Float32Array(5) };
    const results = await Promise.allSettled([...good, bad].map((c) => batcher.attention(c, scope)));
    good.forEach((c, i) => {
      const r = results[i];
      expect(r.status).toBe('fulfilled');
      expectCloseToScale((r as PromiseFulfilledResult<Float32Array>).value, attention(c.q, c.k, c.v, c.shape), 1e-5, `call ${i}`);
    });
    expect(results[3].status).toBe('rejected');
    expect(String((results[3] as PromiseRejectedResult).reason)).toMatch(/attention q/);
    expect(batches).toEqual(kind === 'webgpu' ? [3] : []);
  });

  it('gathers attention backward calls the same way', async () => {
    backwardBatches.length = 0;
    const batcher = new Batcher(new HostActivations(backend), config, 256);
    const calls = [call(3, 0, 50), call(5, 0, 60)].map((c, i) => ({ ...c, dOut: randomFloats(c.q.length, 70 + i) }));
    const grads = await Promise.all(calls.map((c) => batcher.attentionBackward(c, scope)));
    calls.forEach((c, i) => {
      const want = attentionBackward(c.dOut, c.q, c.k, c.v, c.shape);
      for (const name of ['dq', 'dk', 'dv'] as const) expectCloseToScale(grads[i][name], want[name], 1e-5, `call ${i} ${name}`);
    });
    expect(backwardBatches).toEqual(kind === 'webgpu' ? [2] : []);
  });
});

describe('Batcher op order', () => {
  it('runs the least advanced op first, so a group of sessions that fell behind joins the one ahead', async () => {
    const backend = await createBackend(model, 'reference');
    const events: string[] = [];
    const batcher = new Batcher(new HostActivations(backend), config, 256, (e) => events.push(e.op === 'linear' ? `${e.group}×${e.requests}` : `attention×${e.requests}`));
    const { dim } = config;
    const qDim = nHeads * headDim;
    // Three sessions are already at layer 0's o; two more are one op behind, at its qkv, and go on to o.
    const ahead = Array.from({ length: 3 }, (_, i) => batcher.linear(0, 'o', randomFloats(qDim, i), 1, scope));
    const behind = Array.from({ length: 2 }, async (_, i) => {
      await batcher.linear(0, 'qkv', randomFloats(dim, 10 + i), 1, scope);
      return batcher.linear(0, 'o', randomFloats(qDim, 20 + i), 1, scope);
    });
    await Promise.all([...ahead, ...behind]);
    expect(events).toEqual(['qkv×2', 'o×5']);
    await backend.dispose();
  });

  it('still runs an op that keeps being passed over (no session waits forever)', async () => {
    const backend = await createBackend(model, 'reference');
    const events: string[] = [];
    const batcher = new Batcher(new HostActivations(backend), config, 256, (e) => e.op === 'linear' && events.push(`${e.layer}:${e.group}`));
    const { dim } = config;
    // One session at layer 1's qkv; another keeps starting new steps at layer 0 (always less advanced).
    const late = batcher.linear(1, 'qkv', randomFloats(dim, 1), 1, scope);
    let stop = false;
    const churn = (async () => {
      for (let i = 0; i < 30 && !stop; i++) await batcher.linear(0, 'qkv', randomFloats(dim, 100 + i), 1, scope);
    })();
    await late;
    stop = true;
    await churn;
    expect(events.indexOf('1:qkv')).toBeGreaterThanOrEqual(0);
    expect(events.indexOf('1:qkv')).toBeLessThanOrEqual(9); // after at most MAX_SKIPS (8) other ops
    await backend.dispose();
  });
});

