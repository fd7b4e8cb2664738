/**
 * The engine's activations on the device (../activations.ts): every op — the GEMMs, attention
 * over K/V caches that live on the device, RMSNorm, RoPE, SiLU·mul, residual adds, the column
 * splits of fused groups — is recorded into one pending command encoder, and nothing is
 * submitted until something must be read on the host: a tap's tensor for the tenant, the logits
 * for the sampler, the loss. So a decode step of sessions without adapters is one submit and one
 * readback for all its layers; a session with adapters, one per tap it pauses at.
 *
 * The batcher also submits when no session has more to record (`submit`), so the GPU works
 * while sessions wait on their tenants.
 */
import type { ModelConfig } from '../../../shared/model/types';
import { checkAttention, type AttentionShape } from '../../../shared/reference/ops';
import type { ActivationAttentionBackwardCall, ActivationAttentionCall, ActivationBackend } from '../activations';
import type { WeightGroup } from '../types';
import { DeviceScope } from './device-scope';
import { DeviceTensor } from './device-tensor';
import { PendingWork } from './pending';
import type { WebGpuOps } from './ops/index';
import type { UniformSource } from './ops/kernels';
import { checkTrainingHead } from '../head';

/** What the backend records for these activations: a linear op of a weight group, and the training head. */
export interface LinearRecorder {
  /** Output elements of one call, after checking the input; throws on a bad call. */
  check(op: 'linear' | 'linearBackward', layer: number, group: WeightGroup, inputLength: number, rows: number): number;
  record(encoder: GPUCommandEncoder, op: 'linear' | 'linearBackward', layer: number, group: WeightGroup, input: GPUBuffer, output: GPUBuffer, rows: number, uniforms: UniformSource): void;
  /** Throws when the backend is disposed or its device lost. */
  checkUsable(): void;
}

export class DeviceActivations implements ActivationBackend<DeviceTensor> {
  readonly work: PendingWork;
  private readonly ops: WebGpuOps;

  constructor(
    device: GPUDevice,
    ops: WebGpuOps,
    private readonly linears: LinearRecorder,
    private readonly config: ModelConfig,
  ) {
    this.work = new PendingWork(device, () => linears.checkUsable());
    this.ops = ops.withUniforms(this.work.uniform);
  }

  get pooledBytes(): number {
    return this.work.pooledBytes;
  }

  scope(): DeviceScope {
    return new DeviceScope(this.work, this.ops);
  }

  linear(layer: number, group: WeightGroup, x: DeviceTensor, rows: number): Promise<DeviceTensor> {
    return this.recordLinear('linear', layer, group, x, rows);
  }

  linearBackward(layer: number, group: WeightGroup, dy: DeviceTensor, rows: number): Promise<DeviceTensor> {
    return this.recordLinear('linearBackward', layer, group, dy, rows);
  }

  private recordLinear(op: 'linear' | 'linearBackward', layer: number, group: WeightGroup, input: DeviceTensor, rows: number): Promise<DeviceTensor> {
    try {
      this.linears.checkUsable();
      const n = this.linears.check(op, layer, group, input.length, rows);
      const out = this.work.tensor(`${op} ${group} out`, n);
      if (rows > 0) this.linears.record(this.work.encoder(), op, layer, group, input.buffer, out.buffer, rows, this.work.uniform);
      return Promise.resolve(out);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Recorded over the session's device K/V cache: every session's goes into the one pending encoder, no gathering needed. */
  attention(call: ActivationAttentionCall<DeviceTensor>): Promise<DeviceTensor> {
    return this.recordAttention(call, ({ q, k, v, shape }) => {
      const out = this.work.tensor('attention out', q.length);
      this.ops.attention(this.work.encoder(), { q: q.buffer, k: k.buffer, v: v.buffer, out: out.buffer }, shape);
      return out;
    });
  }

  attentionBackward(call: ActivationAttentionBackwardCall<DeviceTensor>): Promise<{ dq: DeviceTensor; dk: DeviceTensor; dv: DeviceTensor }> {
    return this.recordAttention(call, ({ dOut, q, k, v, shape }) => {
      const keys = kvElements(shape);
      const [dq, dk, dv] = [q.length, keys, keys].map((n) => this.work.tensor('attention gradient', n));
      this.ops.attentionBackward(this.work.encoder(), { dOut: dOut.buffer, q: q.buffer, k: k.buffer, v: v.buffer, dq: dq.buffer, dk: dk.buffer, dv: dv.buffer }, shape);
      return { dq, dk, dv };
    });
  }

  private recordAttention<C extends ActivationAttentionCall<DeviceTensor> & { dOut?: DeviceTensor }, R>(call: C, record: (call: C) => R): Promise<R> {
    try {
      this.linears.checkUsable();
      checkAttention(call.q, call.k, call.v, call.shape, call.dOut);
      if (call.shape.rows < 1) throw new Error('attention: a call needs at least one row');
      return Promise.resolve(record(call));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * lmHead GEMM, masked cross-entropy, its gradient and the backward GEMM recorded after the
   * forward; one readback: the loss (and the logits when asked). dL/dxf stays on the device.
   */
  async trainingHead(xf: DeviceTensor, targets: Int32Array, mask: Float32Array, rows: number, returnLogits: boolean): Promise<{ loss: number; dxf: DeviceTensor; logits?: Float32Array }> {
    const { vocabSize: vocab } = this.config;
    checkTrainingHead(this.config, xf, targets, mask, rows);
    const logits = await this.linear(0, 'lmHead', xf, rows);
    const encoder = this.work.encoder();
    const labels = [Uint32Array.from(targets), Uint32Array.from(mask)].map((a) => this.work.upload('training head labels', a));
    const loss = this.work.tensor('training head loss', 1);
    const dLogits = this.work.tensor('training head dLogits', rows * vocab);
    const io = { logits: logits.buffer, targets: labels[0].buffer, mask: labels[1].buffer };
    this.ops.crossEntropy(encoder, { ...io, loss: loss.buffer }, rows, vocab);
    this.ops.crossEntropyBackward(encoder, { ...io, dLogits: dLogits.buffer }, rows, vocab);
    const dxf = await this.linearBackward(0, 'lmHead', dLogits, rows);
    const [lossValue, logitValues] = await this.work.read(returnLogits ? [loss, logits] : [loss]);
    for (const t of [logits, dLogits, loss, ...labels]) this.retire(t);
    return returnLogits ? { loss: lossValue[0], dxf, logits: logitValues } : { loss: lossValue[0], dxf };
  }

  stackRows(parts: readonly DeviceTensor[]): DeviceTensor {
    const out = this.work.tensor('stacked rows', parts.reduce((n, p) => n + p.length, 0));
    const encoder = this.work.encoder();
    let at = 0;
    for (const p of parts) {
      encoder.copyBufferToBuffer(p.buffer, 0, out.buffer, at * 4, p.length * 4);
      at += p.length;
    }
    return out;
  }

  retire(t: DeviceTensor): void {
    this.work.retire(t);
  }

  /** Starts what is recorded (the batcher calls it when every session waits on something else). */
  submit(): void {
    this.work.submit();
  }
}

/** K/V elements a call reads: positions [0, pos0 + rows). */
function kvElements(s: AttentionShape): number {
  return (s.pos0 + s.rows) * s.nKvHeads * s.headDim;
}
