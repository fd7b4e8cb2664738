/**
 * The layer's ops on one model's shapes, as `bench kernels` times them: what each reads and writes
 * (or computes), its inputs, and how each implementation runs it — the WebGPU kernels
 * (gpu-server/backend/webgpu/ops) on device-resident buffers, the JS reference
 * (shared/reference/ops), and what the server runs on the cpu backend where it differs from the
 * reference: RoPE in fast JavaScript (gpu-server/backend/fastops), SiLU·mul and its backward in
 * WebAssembly SIMD (gpu-server/backend/wasm/silu.ts), a decode row's attention in WebAssembly
 * SIMD over a session's cache (gpu-server/backend/cpu/decode-attention.ts),
 * a step's attention and its backward in onnxruntime (the CPU backend's attention), the loss and
 * its gradient in one pass (gpu-server/backend/loss.ts; timed on the backward row).
 *
 * Work per call: bytes read + written (f32; small vectors such as a norm's weight counted once)
 * for the memory-bound ops, FLOPs for attention: per (row, head) and key seen, 2·headDim for q·k
 * and 2·headDim for p·v forward; the backward's five such products (scores, dOut·v, dv, dq, dk)
 * make 10·headDim.
 */
import { ropeF32 } from '../../../gpu-server/backend/fastops';
import { siluMulBackwardF32, siluMulF32 } from '../../../gpu-server/backend/wasm/silu';
import { splitColumns } from '../../../gpu-server/backend/columns';
import type { Backend } from '../../../gpu-server/backend/types';
import { crossEntropyWithGradient } from '../../../gpu-server/backend/loss';
import type { WebGpuOps } from '../../../gpu-server/backend/webgpu/ops/index';
import type { HostArray } from '../../../gpu-server/backend/webgpu/ops/run';
import type { Floats, Model } from '../../../shared/model/types';
import * as ref from '../../../shared/reference/ops';

export interface OpCase {
  op: string;
  shape: string;
  unit: 'GB/s' | 'GFLOP/s';
  /** Bytes or FLOPs (per `unit`) of one call. */
  work: number;
  inputs: Record<string, HostArray>;
  outputs: Record<string, number>;
  webgpu(ops: WebGpuOps, encoder: GPUCommandEncoder, b: Record<string, GPUBuffer>): void;
  reference(): unknown;
  /** What the server runs with the cpu backend, where that is not the reference. */
  cpu?(): unknown;
}

const f32 = (a: Floats) => (a instanceof Float32Array ? a : Float32Array.from(a));

/** Deterministic values in [−1, 1): timings do not depend on them, but NaNs or zeros could. */
function noise(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = (0x9e3779b9 * seed) >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 0x80000000 - 1;
  }
  return a;
}

/** The ops at `rows` rows of `model`; attention over a K/V cache of `context` positions (decoding one row, and `rows` rows at its end). */
/** `cpu` (the CPU backend) is needed only by the cases' `cpu` functions. */
export function opCases(model: Model, rows: number, context: number, cpu: Backend | undefined): OpCase[] {
  const { dim, hiddenDim, nHeads, nKvHeads, headDim, vocabSize: vocab, rmsNormEps: eps, ropeTheta: theta } = model.config;
  const qDim = nHeads * headDim;
  const norm = f32(model.weights.layers[0].attnNorm);
  const embed = f32(model.weights.embed);
  const [x, dy] = [noise(rows * dim, 1), noise(rows * dim, 2)];
  const [g, u, dm] = [noise(rows * hiddenDim, 3), noise(rows * hiddenDim, 4), noise(rows * hiddenDim, 5)];
  const q = noise(rows * qDim, 6);
  const [k, v] = [noise(context * nKvHeads * headDim, 7), noise(context * nKvHeads * headDim, 8)];
  // The cpu backend reads a session's cache where it placed it (WebAssembly memory, for decode rows).
  const cache = cpu?.allocateKvCache?.(1, k.length)?.[0] ?? { k, v };
  cache.k.set(k);
  cache.v.set(v);
  const logits = noise(rows * vocab, 9).map((l) => 4 * l);
  const ids = Array.from({ length: rows }, (_, r) => (r * 7919) % vocab);
  const mask = ids.map((_, r) => (r % 8 === 7 ? 0 : 1));
  const labels = { targets: Uint32Array.from(ids), mask: Uint32Array.from(mask) };
  const [targetIds, lossMask] = [Int32Array.from(ids), Float32Array.from(mask)];

  const attentionCase = (n: number, backward: boolean): OpCase => {
    const shape: ref.AttentionShape = { rows: n, pos0: context - n, nHeads, nKvHeads, headDim };
    const keysSeen = n * (shape.pos0 + 1) + (n * (n - 1)) / 2;
    const qn = q.subarray(0, n * qDim);
    const base = { shape: `${n}×${context} keys, ${nHeads}/${nKvHeads} heads × ${headDim}`, unit: 'GFLOP/s' as const };
    if (!backward) {
      return {
        ...base, op: 'attention', work: 4 * nHeads * headDim * keysSeen,
        inputs: { q: qn, k, v }, outputs: { out: qn.length },
        webgpu: (ops, e, b) => ops.attention(e, { q: b.q, k: b.k, v: b.v, out: b.out }, shape),
        reference: () => ref.attention(qn, k, v, shape),
        cpu: () => cpu!.attention(qn, cache.k, cache.v, shape),
      };
    }
    const dOut = noise(qn.length, 10);
    return {
      ...base, op: 'attention backward', work: 10 * nHeads * headDim * keysSeen,
      inputs: { dOut, q: qn, k, v }, outputs: { dq: qn.length, dk: k.length, dv: v.length },
      webgpu: (ops, e, b) => ops.attentionBackward(e, { dOut: b.dOut, q: b.q, k: b.k, v: b.v, dq: b.dq, dk: b.dk, dv: b.dv }, shape),
      reference: () => ref.attentionBackward(dOut, qn, k, v, shape),
      cpu: () => cpu!.attentionBackward(dOut, qn, k, v, shape),
    };
  };

  // A qkv output [rows, q | k | v] split into its modules, as the engine does after every qkv GEMM.
  const widths = [qDim, nKvHeads * headDim, nKvHeads * headDim];
  const fusedWidth = widths.reduce((a, w) => a + w, 0);
  const qkv = noise(rows * fusedWidth, 11);
  const splitCase: OpCase = {
    op: 'column split (qkv)', shape: `${rows}×${fusedWidth} → ${widths.join('+')}`, unit: 'GB/s', work: 4 * 2 * qkv.length,
    inputs: { qkv }, outputs: { q: rows * widths[0], k: rows * widths[1], v: rows * widths[2] },
    webgpu: (ops, e, b) => {
      let col = 0;
      (['q', 'k', 'v'] as const).forEach((name, i) => {
        ops.copyColumns(e, { src: b.qkv, dst: b[name] }, rows, widths[i], { stride: fusedWidth, col }, { stride: widths[i], col: 0 });
        col += widths[i];
      });
    },
    reference: () => splitColumns(qkv, rows, widths),
  };

  const rd = `${rows}×${dim}`;
  const rh = `${rows}×${hiddenDim}`;
  const rv = `${rows}×${vocab}`;
  return [
    {
      op: 'rmsnorm', shape: rd, unit: 'GB/s', work: 4 * (2 * rows * dim + dim),
      inputs: { x, weight: norm }, outputs: { y: x.length },
      webgpu: (ops, e, b) => ops.rmsnorm(e, { x: b.x, weight: b.weight, y: b.y }, rows, dim, eps),
      reference: () => ref.rmsnorm(x, norm, rows, dim, eps),
    },
    {
      op: 'rmsnorm backward', shape: rd, unit: 'GB/s', work: 4 * (3 * rows * dim + dim),
      inputs: { dy, x, weight: norm }, outputs: { dx: x.length },
      webgpu: (ops, e, b) => ops.rmsnormBackward(e, { dy: b.dy, x: b.x, weight: b.weight, dx: b.dx }, rows, dim, eps),
      reference: () => ref.rmsnormBackward(dy, x, norm, rows, dim, eps),
    },
    {
      op: 'rope', shape: `${rows}×${nHeads}×${headDim}`, unit: 'GB/s', work: 4 * 2 * q.length,
      inputs: { x: q }, outputs: { y: q.length },
      webgpu: (ops, e, b) => ops.rope(e, { x: b.x, y: b.y }, rows, nHeads, headDim, context - rows, theta),
      reference: () => ref.rope(q, rows, nHeads, headDim, context - rows, theta),
      cpu: () => ropeF32(q, rows, nHeads, headDim, context - rows, theta),
    },
    splitCase,
    attentionCase(1, false),
    attentionCase(rows, false),
    attentionCase(rows, true),
    {
      op: 'silu·mul', shape: rh, unit: 'GB/s', work: 4 * 3 * g.length,
      inputs: { g, u }, outputs: { m: g.length },
      webgpu: (ops, e, b) => ops.siluMul(e, { g: b.g, u: b.u, m: b.m }, g.length),
      reference: () => ref.siluMul(g, u),
      cpu: () => siluMulF32(g, u),
    },
    {
      op: 'silu·mul backward', shape: rh, unit: 'GB/s', work: 4 * 5 * g.length,
      inputs: { dm, g, u }, outputs: { dg: g.length, du: g.length },
      webgpu: (ops, e, b) => ops.siluMulBackward(e, { dm: b.dm, g: b.g, u: b.u, dg: b.dg, du: b.du }, g.length),
      reference: () => ref.siluMulBackward(dm, g, u),
      cpu: () => siluMulBackwardF32(dm, g, u),
    },
    {
      op: 'residual add', shape: rd, unit: 'GB/s', work: 4 * 3 * x.length,
      inputs: { a: x, b: dy }, outputs: { out: x.length },
      webgpu: (ops, e, b) => ops.add(e, { a: b.a, b: b.b, out: b.out }, x.length),
      reference: () => ref.add(x, dy),
    },
    {
      op: 'embedding gather', shape: `${rows} of ${vocab}×${dim}`, unit: 'GB/s', work: 4 * (2 * rows * dim + rows),
      inputs: { table: embed, ids: labels.targets }, outputs: { out: x.length },
      webgpu: (ops, e, b) => ops.gather(e, { table: b.table, ids: b.ids, out: b.out }, rows, dim, vocab),
      reference: () => ref.gather(embed, ids, dim),
    },
    {
      op: 'softmax', shape: rv, unit: 'GB/s', work: 4 * 2 * logits.length,
      inputs: { logits }, outputs: { probs: logits.length },
      webgpu: (ops, e, b) => ops.softmax(e, { logits: b.logits, probs: b.probs }, rows, vocab),
      reference: () => ref.softmax(logits, rows, vocab),
    },
    {
      op: 'cross-entropy', shape: rv, unit: 'GB/s', work: 4 * logits.length,
      inputs: { logits, ...labels }, outputs: { loss: 1 },
      webgpu: (ops, e, b) => ops.crossEntropy(e, { logits: b.logits, targets: b.targets, mask: b.mask, loss: b.loss }, rows, vocab),
      reference: () => ref.crossEntropy(logits, ids, mask, rows, vocab),
    },
    {
      op: 'cross-entropy backward', shape: rv, unit: 'GB/s', work: 4 * 2 * logits.length,
      inputs: { logits, ...labels }, outputs: { dLogits: logits.length },
      webgpu: (ops, e, b) => ops.crossEntropyBackward(e, { logits: b.logits, targets: b.targets, mask: b.mask, dLogits: b.dLogits }, rows, vocab),
      reference: () => ref.crossEntropyBackward(logits, ids, mask, rows, vocab),
      cpu: () => crossEntropyWithGradient(logits, targetIds, lossMask, vocab, new Float32Array(logits.length)),
    },
  ];
}
