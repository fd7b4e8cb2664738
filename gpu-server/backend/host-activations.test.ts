/**
 * The host scope's pooled activations: every op's result equals the reference's though it is
 * written over a reused array (the pool is primed with NaN-filled arrays of every length used),
 * and arrays go back to the pool exactly when the scope frees them — never one that a kept
 * tensor, or a view of it, still needs.
 */
import { describe, expect, it } from 'vitest';
import { randomModel, tinyConfig } from '../../shared/model/random';
import * as ref from '../../shared/reference/ops';
import { createBackend } from './index';
import { joinColumns, splitColumns } from './columns';
import { HostActivations, HostScope } from './host-activations';
import { HostPool } from './host-pool';
import { randomFloats } from '../testing/numeric';

const [rows, nHeads, headDim] = [3, 2, 4];
const dim = nHeads * headDim;

/** A pool holding `count` NaN-filled arrays of each length. */
function dirtyPool(lengths: number[], count = 16): HostPool {
  const pool = new HostPool(1 << 24);
  for (const n of lengths) for (let i = 0; i < count; i++) pool.give(new Float32Array(n).fill(Number.NaN));
  return pool;
}

describe('HostScope', () => {
  it('writes every op over reused arrays, equal to the reference ops', () => {
    const ops = new HostScope(dirtyPool([rows * dim, 2 * rows * dim, rows * 2, rows * 6]));
    const [x, y, w] = [randomFloats(rows * dim, 1), randomFloats(rows * dim, 2), randomFloats(dim, 3)];
    expect(ops.add(x, y)).toEqual(ref.add(x, y));
    expect(ops.concatRows(x, y)).toEqual(ref.concatRows(x, y));
    expect(ops.rmsnorm(x, w, rows, dim, 1e-5)).toEqual(ref.rmsnorm(x, w, rows, dim, 1e-5));
    expect(ops.rmsnormBackward(y, x, w, rows, dim, 1e-5)).toEqual(ref.rmsnormBackward(y, x, w, rows, dim, 1e-5));
    expect(ops.rope(x, rows, nHeads, headDim, 5, 10000)).toEqual(ref.rope(x, rows, nHeads, headDim, 5, 10000));
    expect(ops.ropeBackward(x, rows, nHeads, headDim, 5, 10000)).toEqual(ref.ropeBackward(x, rows, nHeads, headDim, 5, 10000));
    // SiLU in WebAssembly: within 2e-6·(1 + |reference|), as wasm/silu.test.ts holds it.
    const u = randomFloats(rows * dim, 4);
    const close = (got: Float32Array, want: Float32Array) => want.forEach((v, i) => expect(Math.abs(got[i] - v)).toBeLessThanOrEqual(2e-6 * (1 + Math.abs(v))));
    close(ops.siluMul(x, y), ref.siluMul(x, y));
    const [got, want] = [ops.siluMulBackward(u, x, y), ref.siluMulBackward(u, x, y)];
    close(got.dg, want.dg);
    close(got.du, want.du);
    expect(ops.splitColumns(x, rows, [2, 6])).toEqual(splitColumns(x, rows, [2, 6]));
    expect(ops.joinColumns(splitColumns(x, rows, [2, 6]), rows)).toEqual(joinColumns(splitColumns(x, rows, [2, 6]), rows));
    expect(ops.zeros(rows * dim).every((v) => v === 0)).toBe(true);
  });

  it('frees what it took since a mark except the arrays under what it keeps, and the rest at release', () => {
    const pool = new HostPool(1 << 20);
    const ops = new HostScope(pool);
    const x = randomFloats(rows * dim, 1);
    const before = ops.add(x, x); // taken before the mark: untouched by freeSince
    const mark = ops.mark();
    const dead = ops.add(before, x);
    const kept = ops.add(dead, x);
    const underView = ops.add(kept, x);
    ops.freeSince(mark, [kept, ops.slice(underView, dim, 2 * dim)]);
    expect(pool.bytes).toBe(dead.byteLength);
    expect(pool.take(rows * dim)).toBe(dead);
    expect(pool.bytes).toBe(0);
    ops.release();
    const back = [pool.take(rows * dim), pool.take(rows * dim), pool.take(rows * dim)];
    expect(back).toEqual(expect.arrayContaining([before, kept, underView]));
    ops.release(); // nothing left to give: no array goes back twice
    expect(pool.bytes).toBe(0);
  });

  it('two scopes never share an array while both hold it', () => {
    const pool = new HostPool(1 << 20);
    const [a, b] = [new HostScope(pool), new HostScope(pool)];
    const x = randomFloats(rows * dim, 1);
    const first = a.add(x, x);
    a.release();
    const reused = b.add(x, x);
    expect(reused).toBe(first);
    expect(a.add(x, x)).not.toBe(reused);
  });
});

describe('HostActivations', () => {
  it("gives back a batched op's stacked rows at retire, never a GEMM's output", async () => {
    const config = tinyConfig();
    const activations = new HostActivations(await createBackend(randomModel(config, 1), 'reference'));
    const parts = [randomFloats(config.dim, 1), randomFloats(config.dim, 2)];
    const stacked = activations.stackRows(parts);
    expect(stacked).toEqual(Float32Array.from([...parts[0], ...parts[1]]));
    const y = await activations.linear(0, 'o', stacked, 2);
    activations.retire(y);
    expect(activations.pooledBytes).toBe(0);
    activations.retire(stacked);
    expect(activations.pooledBytes).toBe(stacked.byteLength);
    activations.retire(stacked); // already back: not given twice
    expect(activations.pooledBytes).toBe(stacked.byteLength);
    expect(activations.stackRows(parts)).toBe(stacked);
  });
});
