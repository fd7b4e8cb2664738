/**
 * Each op of index.ts run once from host arrays, with the signature of its counterpart in
 * shared/reference/ops (Float32Array only; results are promises): one upload, one submit, one
 * readback per call. What the parity tests compare against the reference.
 */
import { checkAttention, checkShape, type AttentionShape } from '../../../../shared/reference/ops';
import type { WebGpuOps } from './index';
import { runOnDevice, type HostArray } from './run';

export class ArrayOps {
  constructor(private readonly ops: WebGpuOps) {}

  async rmsnorm(x: Float32Array, weight: Float32Array, rows: number, dim: number, eps: number): Promise<Float32Array> {
    checkShape('rmsnorm x', x, rows * dim);
    return (await this.run({ x, weight }, { y: rows * dim }, (e, b) => this.ops.rmsnorm(e, b, rows, dim, eps))).y;
  }

  async rmsnormBackward(dy: Float32Array, x: Float32Array, weight: Float32Array, rows: number, dim: number, eps: number): Promise<Float32Array> {
    checkShape('rmsnormBackward dy', dy, rows * dim);
    return (await this.run({ dy, x, weight }, { dx: rows * dim }, (e, b) => this.ops.rmsnormBackward(e, b, rows, dim, eps))).dx;
  }

  async rope(x: Float32Array, rows: number, nHeads: number, headDim: number, pos0: number, theta: number): Promise<Float32Array> {
    checkShape('rope x', x, rows * nHeads * headDim);
    return (await this.run({ x }, { y: x.length }, (e, b) => this.ops.rope(e, b, rows, nHeads, headDim, pos0, theta))).y;
  }

  async ropeBackward(dy: Float32Array, rows: number, nHeads: number, headDim: number, pos0: number, theta: number): Promise<Float32Array> {
    checkShape('ropeBackward dy', dy, rows * nHeads * headDim);
    return (await this.run({ dy }, { dx: dy.length }, (e, b) => this.ops.ropeBackward(e, b, rows, nHeads, headDim, pos0, theta))).dx;
  }

  async attention(q: Float32Array, k: Float32Array, v: Float32Array, shape: AttentionShape): Promise<Float32Array> {
    checkAttention(q, k, v, shape);
    return (await this.run({ q, k, v }, { out: q.length }, (e, b) => this.ops.attention(e, b, shape))).out;
  }

  async attentionBackward(dOut: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, shape: AttentionShape): Promise<{ dq: Float32Array; dk: Float32Array; dv: Float32Array }> {
    checkAttention(q, k, v, shape, dOut);
    const kv = (shape.pos0 + shape.rows) * shape.nKvHeads * shape.headDim;
    return this.run({ dOut, q, k, v }, { dq: q.length, dk: kv, dv: kv }, (e, b) => this.ops.attentionBackward(e, b, shape));
  }

  async siluMul(g: Float32Array, u: Float32Array): Promise<Float32Array> {
    checkShape('siluMul u', u, g.length);
    return (await this.run({ g, u }, { m: g.length }, (e, b) => this.ops.siluMul(e, b, g.length))).m;
  }

  async siluMulBackward(dm: Float32Array, g: Float32Array, u: Float32Array): Promise<{ dg: Float32Array; du: Float32Array }> {
    checkShape('siluMulBackward g', g, dm.length);
    checkShape('siluMulBackward u', u, dm.length);
    return this.run({ dm, g, u }, { dg: dm.length, du: dm.length }, (e, b) => this.ops.siluMulBackward(e, b, dm.length));
  }

  async add(a: Float32Array, b: Float32Array): Promise<Float32Array> {
    checkShape('add b', b, a.length);
    return (await this.run({ a, b }, { out: a.length }, (e, bufs) => this.ops.add(e, bufs, a.length))).out;
  }

  async gather(table: Float32Array, ids: readonly number[], dim: number): Promise<Float32Array> {
    const tableRows = table.length / dim;
    ids.forEach((id, r) => {
      if (!Number.isInteger(id) || id < 0 || id >= tableRows) throw new Error(`gather: id ${id} at row ${r} is outside [0, ${tableRows})`);
    });
    return (await this.run({ table, ids: Uint32Array.from(ids) }, { out: ids.length * dim }, (e, b) => this.ops.gather(e, b, ids.length, dim, tableRows))).out;
  }

  async softmax(logits: Float32Array, rows: number, n: number): Promise<Float32Array> {
    checkShape('softmax logits', logits, rows * n);
    return (await this.run({ logits }, { probs: rows * n }, (e, b) => this.ops.softmax(e, b, rows, n))).probs;
  }

  async crossEntropy(logits: Float32Array, targets: readonly number[], mask: readonly number[], rows: number, vocab: number): Promise<number> {
    const labels = lossLabels(logits, targets, mask, rows, vocab);
    return (await this.run({ logits, ...labels }, { loss: 1 }, (e, b) => this.ops.crossEntropy(e, b, rows, vocab))).loss[0];
  }

  async crossEntropyBackward(logits: Float32Array, targets: readonly number[], mask: readonly number[], rows: number, vocab: number): Promise<Float32Array> {
    const labels = lossLabels(logits, targets, mask, rows, vocab);
    return (await this.run({ logits, ...labels }, { dLogits: rows * vocab }, (e, b) => this.ops.crossEntropyBackward(e, b, rows, vocab))).dLogits;
  }

  private run<I extends string, O extends string>(inputs: Record<I, HostArray>, outputs: Record<O, number>, record: (encoder: GPUCommandEncoder, buffers: Record<I | O, GPUBuffer>) => void) {
    return runOnDevice(this.ops.device, inputs, outputs, record);
  }
}

/** targets and mask as the kernels read them (u32), checked as the reference checks them; a masked-out row's target becomes 0. */
function lossLabels(logits: Float32Array, targets: readonly number[], mask: readonly number[], rows: number, vocab: number): { targets: Uint32Array; mask: Uint32Array } {
  checkShape('crossEntropy logits', logits, rows * vocab);
  checkShape('crossEntropy targets', targets, rows);
  checkShape('crossEntropy mask', mask, rows);
  for (let r = 0; r < rows; r++) {
    if (mask[r] !== 0 && mask[r] !== 1) throw new Error(`crossEntropy: mask[${r}] must be 0 or 1, got ${mask[r]}`);
    const t = targets[r];
    if (mask[r] === 1 && (!Number.isInteger(t) || t < 0 || t >= vocab)) throw new Error(`crossEntropy: target ${t} at row ${r} is outside [0, ${vocab})`);
  }
  return { targets: Uint32Array.from(targets, (t, r) => (mask[r] === 1 ? t : 0)), mask: Uint32Array.from(mask) };
}
