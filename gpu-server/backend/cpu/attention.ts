/**
 * The CPU backend's attention: the graphs of attention-model.ts in two onnxruntime sessions,
 * built once per model shape.
 */
import * as ort from 'onnxruntime-node';
import { checkAttention, type AttentionShape } from '../../../shared/reference/ops';
import type { AttentionGradients } from '../types';
import { attentionBackwardModel, attentionModel, causalMask, type AttentionDims } from './attention-model';


export class OrtAttention {
  private mask: { rows: number; pos0: number; data: Float32Array } = { rows: 0, pos0: -1, data: new Float32Array(0) };

  private constructor(
    private readonly forwardSession: ort.InferenceSession,
    private readonly backwardSession: ort.InferenceSession,
  ) {}

  static async create(dims: AttentionDims, options: ort.InferenceSession.SessionOptions): Promise<OrtAttention> {
    const forward = await ort.InferenceSession.create(attentionModel(dims), options);
    try {
      return new OrtAttention(forward, await ort.InferenceSession.create(attentionBackwardModel(dims), options));
    } catch (e) {
      await forward.release();
      throw e;
    }
  }

  /** out [rows, nHeads·headDim]; k, v may hold more positions than pos0 + rows (a KV cache). */
  async forward(q: Float32Array, k: Float32Array, v: Float32Array, shape: AttentionShape): Promise<Float32Array> {
    checkAttention(q, k, v, shape);
    const { out } = await this.run(this.forwardSession, q, k, v, shape, {});
    return out;
  }

  /** dq [rows, nHeads·headDim], dk, dv [pos0 + rows, nKvHeads·headDim]. */
  async backward(dOut: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, shape: AttentionShape): Promise<AttentionGradients> {
    checkAttention(q, k, v, shape, dOut);
    const { dq, dk, dv } = await this.run(this.backwardSession, q, k, v, shape, { dOut: new ort.Tensor('float32', dOut, [shape.rows, dOut.length / shape.rows]) });
    return { dq, dk, dv };
  }

  private async run(session: ort.InferenceSession, q: Float32Array, k: Float32Array, v: Float32Array, shape: AttentionShape, extra: Record<string, ort.Tensor>): Promise<Record<string, Float32Array>> {
    const { rows, pos0, nHeads, nKvHeads, headDim } = shape;
    const keys = pos0 + rows;
    const kvDim = nKvHeads * headDim;
    const feeds = {
      q: new ort.Tensor('float32', q, [rows, nHeads * headDim]),
      k: new ort.Tensor('float32', k.subarray(0, keys * kvDim), [keys, kvDim]),
      v: new ort.Tensor('float32', v.subarray(0, keys * kvDim), [keys, kvDim]),
      mask: new ort.Tensor('float32', this.causalMask(rows, pos0), [rows, keys]),
      ...extra,
    };
    const sizes: Record<string, number> = { out: rows * nHeads * headDim, dq: rows * nHeads * headDim, dk: keys * kvDim, dv: keys * kvDim };
    const outputs: Record<string, Float32Array> = {};
    const result = await session.run(feeds);
    for (const name of session.outputNames) {
      const data = result[name].data;
      if (!(data instanceof Float32Array) || data.length !== sizes[name]) throw new Error(`onnxruntime returned ${data.length} elements for attention's ${name}, expected ${sizes[name]}`);
      outputs[name] = data;
    }
    return outputs;
  }

  /** The last mask, kept: a training step asks for the same one in every layer. */
  private causalMask(rows: number, pos0: number): Float32Array {
    if (this.mask.rows !== rows || this.mask.pos0 !== pos0) this.mask = { rows, pos0, data: causalMask(rows, pos0) };
    return this.mask.data;
  }

  async release(): Promise<void> {
    await Promise.all([this.forwardSession.release(), this.backwardSession.release()]);
  }
}
