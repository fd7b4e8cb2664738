/**
 * Each op's backward against central finite differences of its forward, in float64:
 * with a random upstream gradient g, L(x) = g · op(x), and every element of dL/dx from the
 * backward must match (L(x + h·e_i) − L(x − h·e_i)) / 2h, h = 1e-5, to a norm-wise relative
 * error ‖analytic − numeric‖∞ / ‖numeric‖∞ ≤ 1e-6 (observed ~1e-10).
 */
import { describe, expect, it } from 'vitest';
import { Rng, dot, numericGradient, relativeError } from '../util';
import {
  add,
  attention,
  attentionBackward,
  concatRows,
  crossEntropy,
  crossEntropyBackward,
  gather,
  gatherBackward,
  linear,
  linearBackward,
  rmsnorm,
  rmsnormBackward,
  rope,
  ropeBackward,
  siluMul,
  siluMulBackward,
  softmax,
  type AttentionShape,
} from './ops';

const TOL = 1e-6;
const rng = new Rng(2024);
const rand = (n: number, scale = 1) => Float64Array.from({ length: n }, () => scale * rng.normal());

/** The backward's gradient of L = g · f(x) wrt x equals finite differences, every element. */
function expectGradient(x: Float64Array, loss: () => number, analytic: ArrayLike<number>): void {
  const numeric = numericGradient(x, loss);
  expect(relativeError(analytic, numeric)).toBeLessThan(TOL);
}

describe('linear', () => {
  it('computes x·Wᵀ + b', () => {
    const x = Float32Array.from([1, 2, 3, 4, 5, 6]); // [2, 3]
    const w = Float32Array.from([1, 0, -1, 0.5, 0.5, 0.5]); // [2, 3]
    const y = linear(x, w, Float32Array.from([10, 20]), 2, 3, 2);
    expect(y).toBeInstanceOf(Float32Array);
    expect(Array.from(y)).toEqual([1 - 3 + 10, 3 + 20, 4 - 6 + 10, 7.5 + 20]);
    expect(linear(Float64Array.from(x), w, undefined, 2, 3, 2)).toBeInstanceOf(Float64Array);
  });

  it('backward dx = dy·W equals finite differences', () => {
    const [rows, inDim, outDim] = [7, 6, 5]; // 4-row blocks and a tail
    const x = rand(rows * inDim);
    const w = rand(outDim * inDim);
    const b = rand(outDim);
    const g = rand(rows * outDim);
    expectGradient(x, () => dot(g, linear(x, w, b, rows, inDim, outDim)), linearBackward(g, w, rows, inDim, outDim));
  });

  it('the 4-row blocked loop equals a plain one (rows 9)', () => {
    const [rows, inDim, outDim] = [9, 5, 3];
    const x = rand(rows * inDim);
    const w = rand(outDim * inDim);
    const b = rand(outDim);
    const y = linear(x, w, b, rows, inDim, outDim);
    for (let r = 0; r < rows; r++)
      for (let o = 0; o < outDim; o++) {
        let s = b[o];
        for (let i = 0; i < inDim; i++) s += x[r * inDim + i] * w[o * inDim + i];
        expect(y[r * outDim + o]).toBeCloseTo(s, 13);
      }
    const dy = rand(rows * outDim);
    const dx = linearBackward(dy, w, rows, inDim, outDim);
    for (let r = 0; r < rows; r++)
      for (let i = 0; i < inDim; i++) {
        let s = 0;
        for (let o = 0; o < outDim; o++) s += dy[r * outDim + o] * w[o * inDim + i];
        expect(dx[r * inDim + i]).toBeCloseTo(s, 13);
      }
  });

  it('checks shapes', () => {
    expect(() => linear(new Float32Array(5), new Float32Array(6), undefined, 2, 3, 2)).toThrow(/linear x: expected 6/);
  });
});

describe('rmsnorm', () => {
  it('normalises each row to RMS 1 before the weight', () => {
    const x = Float64Array.from([3, 4, -1, 1]);
    const y = rmsnorm(x, Float64Array.from([1, 2]), 2, 2, 0);
    const r = Math.sqrt(12.5);
    expect(Array.from(y)).toEqual([3 / r, 8 / r, -1, 2]);
  });

  it('backward equals finite differences', () => {
    const [rows, dim, eps] = [4, 9, 1e-5];
    const x = rand(rows * dim);
    const w = rand(dim, 0.3).map((v) => 1 + v);
    const g = rand(rows * dim);
    expectGradient(x, () => dot(g, rmsnorm(x, w, rows, dim, eps)), rmsnormBackward(g, x, w, rows, dim, eps));
  });
});

describe('rope (HF rotate_half convention)', () => {
  const [rows, nHeads, headDim, theta] = [5, 3, 8, 10000];

  it('rotates dim i with dim i + headDim/2 by pos·theta^(-2i/headDim)', () => {
    const x = rand(rows * nHeads * headDim);
    const pos0 = 7;
    const y = rope(x, rows, nHeads, headDim, pos0, theta);
    const [r, h, i] = [2, 1, 3];
    const o = (r * nHeads + h) * headDim;
    const angle = (pos0 + r) * Math.pow(theta, (-2 * i) / headDim);
    expect(y[o + i]).toBeCloseTo(x[o + i] * Math.cos(angle) - x[o + i + 4] * Math.sin(angle), 12);
    expect(y[o + i + 4]).toBeCloseTo(x[o + i + 4] * Math.cos(angle) + x[o + i] * Math.sin(angle), 12);
    // position 0 is the identity
    expect(Array.from(rope(x.subarray(0, nHeads * headDim), 1, nHeads, headDim, 0, theta))).toEqual(Array.from(x.subarray(0, nHeads * headDim)));
  });

  it('makes q·k depend only on the relative position', () => {
    const q = rand(headDim);
    const k = rand(headDim);
    const score = (m: number, n: number) => dot(rope(q, 1, 1, headDim, m, theta), rope(k, 1, 1, headDim, n, theta));
    expect(score(10, 3)).toBeCloseTo(score(27, 20), 10);
  });

  it('backward equals finite differences', () => {
    const x = rand(rows * nHeads * headDim);
    const g = rand(x.length);
    expectGradient(x, () => dot(g, rope(x, rows, nHeads, headDim, 3, theta)), ropeBackward(g, rows, nHeads, headDim, 3, theta));
  });
});

describe('causal GQA attention', () => {
  const shape: AttentionShape = { rows: 4, pos0: 3, nHeads: 4, nKvHeads: 2, headDim: 6 };
  const nKeys = shape.pos0 + shape.rows;
  const qDim = shape.nHeads * shape.headDim;
  const kvDim = shape.nKvHeads * shape.headDim;

  it('attends to keys 0..own position, head h reading kv head h / (nHeads/nKvHeads)', () => {
    const q = rand(shape.rows * qDim);
    const k = rand(nKeys * kvDim);
    const v = rand(nKeys * kvDim);
    const out = attention(q, k, v, shape);
    // by hand for row 1 (position 4), head 3 (kv head 1)
    const [r, h, kvh, hd] = [1, 3, 1, shape.headDim];
    const scores = Array.from({ length: shape.pos0 + r + 1 }, (_, j) => {
      let s = 0;
      for (let d = 0; d < hd; d++) s += q[r * qDim + h * hd + d] * k[j * kvDim + kvh * hd + d];
      return s / Math.sqrt(hd);
    });
    const e = scores.map((s) => Math.exp(s));
    const z = e.reduce((a, b) => a + b);
    for (let d = 0; d < hd; d++) {
      const expected = e.reduce((acc, ej, j) => acc + (ej / z) * v[j * kvDim + kvh * hd + d], 0);
      expect(out[r * qDim + h * hd + d]).toBeCloseTo(expected, 12);
    }
    // causal: changing the last key/value does not change earlier rows
    const k2 = k.slice();
    const v2 = v.slice();
    k2.fill(5, (nKeys - 1) * kvDim);
    v2.fill(5, (nKeys - 1) * kvDim);
    const out2 = attention(q, k2, v2, shape);
    expect(Array.from(out2.subarray(0, (shape.rows - 1) * qDim))).toEqual(Array.from(out.subarray(0, (shape.rows - 1) * qDim)));
    expect(out2[(shape.rows - 1) * qDim]).not.toBe(out[(shape.rows - 1) * qDim]);
  });

  it('a single key returns its value', () => {
    const one: AttentionShape = { rows: 1, pos0: 0, nHeads: 2, nKvHeads: 1, headDim: 3 };
    const v = Float64Array.from([1, 2, 3]);
    expect(Array.from(attention(rand(6), rand(3), v, one))).toEqual([1, 2, 3, 1, 2, 3]);
  });

  for (const nKvHeads of [1, 2, 4]) {
    it(`backward dq, dk, dv equal finite differences (nHeads 4, nKvHeads ${nKvHeads}, pos0 3)`, () => {
      const s = { ...shape, nKvHeads };
      const kv = nKvHeads * s.headDim;
      const q = rand(s.rows * qDim);
      const k = rand(nKeys * kv);
      const v = rand(nKeys * kv);
      const g = rand(s.rows * qDim);
      const loss = () => dot(g, attention(q, k, v, s));
      const { dq, dk, dv } = attentionBackward(g, q, k, v, s);
      expect(dk.length).toBe(nKeys * kv);
      expectGradient(q, loss, dq);
      expectGradient(k, loss, dk);
      expectGradient(v, loss, dv);
    });
  }

  it('rejects too short K/V and bad head counts', () => {
    expect(() => attention(rand(shape.rows * qDim), rand(kvDim), rand(kvDim), shape)).toThrow(/fewer than 7 positions/);
    expect(() => attention(rand(shape.rows * qDim), rand(nKeys * kvDim), rand(nKeys * kvDim), { ...shape, nKvHeads: 3 })).toThrow(/multiple/);
  });
});

describe('siluMul', () => {
  it('is silu(g)·u', () => {
    const m = siluMul(Float64Array.from([0, 1, -2]), Float64Array.from([3, 2, 1]));
    expect(m[0]).toBe(0);
    expect(m[1]).toBeCloseTo((2 * 1) / (1 + Math.exp(-1)), 14);
    expect(m[2]).toBeCloseTo(-2 / (1 + Math.exp(2)), 14);
  });

  it('backward dg, du equal finite differences', () => {
    const g = rand(30, 2);
    const u = rand(30);
    const up = rand(30);
    const loss = () => dot(up, siluMul(g, u));
    const { dg, du } = siluMulBackward(up, g, u);
    expectGradient(g, loss, dg);
    expectGradient(u, loss, du);
  });
});

describe('embeddings and residual', () => {
  it('gather picks rows; its backward scatter-adds (repeated ids accumulate)', () => {
    const table = rand(5 * 3);
    const ids = [4, 0, 4, 2];
    const out = gather(table, ids, 3);
    expect(Array.from(out.subarray(6, 9))).toEqual(Array.from(table.subarray(12, 15)));
    const g = rand(ids.length * 3);
    expectGradient(table, () => dot(g, gather(table, ids, 3)), gatherBackward(g, ids, 5, 3));
    expect(() => gather(table, [5], 3)).toThrow(/outside/);
  });

  it('add and concatRows', () => {
    expect(Array.from(add(Float32Array.from([1, 2]), Float64Array.from([3, 4])))).toEqual([4, 6]);
    const c = concatRows(Float64Array.from([1, 2]), Float32Array.from([3, 4]));
    expect(c).toBeInstanceOf(Float64Array);
    expect(Array.from(c)).toEqual([1, 2, 3, 4]);
  });
});

describe('softmax and masked cross-entropy', () => {
  const [rows, vocab] = [5, 7];

  it('softmax rows sum to 1 and are shift-invariant', () => {
    const x = rand(rows * vocab, 3);
    const p = softmax(x, rows, vocab);
    for (let r = 0; r < rows; r++) expect(p.subarray(r * vocab, (r + 1) * vocab).reduce((a, b) => a + b)).toBeCloseTo(1, 14);
    const shifted = softmax(x.map((v) => v + 100), rows, vocab);
    expect(relativeError(shifted, p)).toBeLessThan(1e-12);
  });

  it('is the mean over masked-in rows of −log p(target); masked-out targets are ignored', () => {
    const logits = rand(rows * vocab);
    const targets = [1, -100, 6, 0, 99];
    const mask = [1, 0, 1, 1, 0];
    const p = softmax(logits, rows, vocab);
    const expected = -(Math.log(p[1]) + Math.log(p[2 * vocab + 6]) + Math.log(p[3 * vocab])) / 3;
    expect(crossEntropy(logits, targets, mask, rows, vocab)).toBeCloseTo(expected, 12);
    expect(crossEntropy(logits, targets, [0, 0, 0, 0, 0], rows, vocab)).toBe(0);
    expect(Array.from(crossEntropyBackward(logits, targets, [0, 0, 0, 0, 0], rows, vocab)).every((v) => v === 0)).toBe(true);
    expect(() => crossEntropy(logits, targets, [1, 1, 1, 1, 1], rows, vocab)).toThrow(/outside/);
    expect(() => crossEntropy(logits, targets, [2, 0, 1, 1, 0], rows, vocab)).toThrow(/0 or 1/);
  });

  it('backward wrt logits equals finite differences', () => {
    const logits = rand(rows * vocab, 2);
    const targets = [1, 3, 6, 0, 2];
    const mask = [1, 0, 1, 1, 1];
    expectGradient(logits, () => crossEntropy(logits, targets, mask, rows, vocab), crossEntropyBackward(logits, targets, mask, rows, vocab));
  });
});
