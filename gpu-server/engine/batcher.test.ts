/**
 * The batcher's op order: the least advanced op runs first, so sessions that fell behind catch
 * up with those ahead at a shared GEMM, and an op passed over too often runs anyway.
 */
import { describe, expect, it } from 'vitest';
import { randomModel, tinyConfig } from '../../shared/model/random';
import { createBackend } from '../backend';
import { randomFloats } from '../testing/numeric';
import { HostActivations, HostScope } from '../backend/host-activations';
import { HostPool } from '../backend/host-pool';
import { Batcher } from './batcher';

const scope = new HostScope(new HostPool(2 ** 20));
const config = tinyConfig();
const model = randomModel(config, 4);
const { nHeads, headDim } = config;

describe('Batcher op order', () => {
  it('runs the least advanced op first, so a group of sessions that fell behind joins the one ahead', async () => {
    const backend = await createBackend(model, 'reference');
    const events: string[] = [];
    const batcher = new Batcher(new HostActivations(backend), config, 256, (e) => events.push(`${e.group}×${e.requests}`));
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
    const batcher = new Batcher(new HostActivations(backend), config, 256, (e) => events.push(`${e.layer}:${e.group}`));
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

