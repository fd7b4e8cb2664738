/**
 * The rest of a decoder layer's ops on WebGPU (the linear layers are ../kernels.ts): RMSNorm,
 * RoPE, causal GQA attention, SwiGLU's silu·mul, each with its backward, plus the residual add,
 * the embedding gather, softmax and the masked mean cross-entropy. Same math, shapes and layout
 * as shared/reference/ops; f32 throughout.
 *
 * Each method records its dispatches into the caller's command encoder on the caller's buffers,
 * so many ops chain into one submit; nothing is read back (arrays.ts runs one op from arrays).
 * Outputs must not alias inputs (WebGPU forbids one buffer bound read-only and writable in one
 * dispatch). Pipelines are built once per device: get them through opsFor(device).
 */
import type { AttentionShape } from '../../../../shared/reference/ops';
import { requestDevice } from '../device';
import { createOpPipelines, freshUniforms, MAX_HEAD_DIM, OP_NEEDS, OP_WG, packParams, recordDispatch, type KernelBuffers, type OpKernel, type OpPipelines, type UniformSource } from './kernels';
import { RopeTables } from './rope-table';

export class WebGpuOps {
  private constructor(
    readonly device: GPUDevice,
    private readonly pipelines: OpPipelines,
    private readonly ropeTables: RopeTables,
    private readonly uniforms: UniformSource,
  ) {}

  static async create(device: GPUDevice): Promise<WebGpuOps> {
    return new WebGpuOps(device, await createOpPipelines(device), new RopeTables(device), freshUniforms(device));
  }

  /** The same ops, their params in uniforms from `uniforms` (the device activations' pool). */
  withUniforms(uniforms: UniformSource): WebGpuOps {
    return new WebGpuOps(this.device, this.pipelines, this.ropeTables, uniforms);
  }

  /** y [rows, dim] = rmsnorm(x [rows, dim]) ⊙ weight [dim] */
  rmsnorm(encoder: GPUCommandEncoder, io: KernelBuffers<'rmsnorm'>, rows: number, dim: number, eps: number): void {
    this.dispatch(encoder, 'rmsnorm', packParams([rows, dim], [eps]), io, rows);
  }

  /** dx [rows, dim] from dy, x [rows, dim] */
  rmsnormBackward(encoder: GPUCommandEncoder, io: KernelBuffers<'rmsnorm-backward'>, rows: number, dim: number, eps: number): void {
    this.dispatch(encoder, 'rmsnorm-backward', packParams([rows, dim], [eps]), io, rows);
  }

  /** y [rows, nHeads·headDim] = x rotated at positions pos0, pos0+1, … */
  rope(encoder: GPUCommandEncoder, io: { x: GPUBuffer; y: GPUBuffer }, rows: number, nHeads: number, headDim: number, pos0: number, theta: number): void {
    this.rotate(encoder, io.x, io.y, rows, nHeads, headDim, pos0, theta, 1);
  }

  /** dx = dy rotated by the opposite angles (a rotation's transpose), same shapes as rope */
  ropeBackward(encoder: GPUCommandEncoder, io: { dy: GPUBuffer; dx: GPUBuffer }, rows: number, nHeads: number, headDim: number, pos0: number, theta: number): void {
    this.rotate(encoder, io.dy, io.dx, rows, nHeads, headDim, pos0, theta, -1);
  }

  /** out [rows, nHeads·headDim] from q [rows, nHeads·headDim], k, v [≥ pos0+rows, nKvHeads·headDim] */
  attention(encoder: GPUCommandEncoder, io: KernelBuffers<'attention'>, shape: AttentionShape): void {
    this.dispatch(encoder, 'attention', attentionParams(shape), io, shape.rows * shape.nHeads);
  }

  /** dq [rows, nHeads·headDim], dk, dv [pos0+rows, nKvHeads·headDim]: two dispatches through a (lse, D) scratch per (row, head) */
  attentionBackward(encoder: GPUCommandEncoder, io: Omit<KernelBuffers<'attention-backward-dq'> & KernelBuffers<'attention-backward-dkv'>, 'stats'>, shape: AttentionShape): void {
    const params = attentionParams(shape);
    const stats = this.scratch('attention (lse, D)', shape.rows * shape.nHeads * 8);
    this.dispatch(encoder, 'attention-backward-dq', params, { ...io, stats }, shape.rows * shape.nHeads);
    this.dispatch(encoder, 'attention-backward-dkv', params, { ...io, stats }, (shape.pos0 + shape.rows) * shape.nKvHeads);
  }

  /** m = silu(g) ⊙ u, n elements */
  siluMul(encoder: GPUCommandEncoder, io: KernelBuffers<'silu-mul'>, n: number): void {
    this.dispatch(encoder, 'silu-mul', packParams([n]), io, Math.ceil(n / OP_WG));
  }

  /** dg, du from dm, g, u; n elements each */
  siluMulBackward(encoder: GPUCommandEncoder, io: KernelBuffers<'silu-mul-backward'>, n: number): void {
    this.dispatch(encoder, 'silu-mul-backward', packParams([n]), io, Math.ceil(n / OP_WG));
  }

  /** out = a + b, n elements */
  add(encoder: GPUCommandEncoder, io: KernelBuffers<'add'>, n: number): void {
    this.dispatch(encoder, 'add', packParams([n]), io, Math.ceil(n / OP_WG));
  }

  /** dst[r, dstCol…dstCol+width) = src[r, srcCol…srcCol+width) for r < rows (strides: the row widths) */
  copyColumns(encoder: GPUCommandEncoder, io: KernelBuffers<'copy-columns'>, rows: number, width: number, src: { stride: number; col: number }, dst: { stride: number; col: number }): void {
    this.dispatch(encoder, 'copy-columns', packParams([rows, width, src.stride, src.col, dst.stride, dst.col]), io, Math.ceil((rows * width) / OP_WG));
  }

  /** out [rows, dim] = table [tableRows, dim] at ids [rows] (u32) */
  gather(encoder: GPUCommandEncoder, io: KernelBuffers<'gather'>, rows: number, dim: number, tableRows: number): void {
    this.dispatch(encoder, 'gather', packParams([rows, dim, tableRows]), io, Math.ceil((rows * dim) / OP_WG));
  }

  /** probs [rows, n] = row-wise softmax of logits [rows, n] */
  softmax(encoder: GPUCommandEncoder, io: KernelBuffers<'softmax'>, rows: number, n: number): void {
    this.dispatch(encoder, 'softmax', packParams([rows, n]), io, rows);
  }

  /** loss [1] = masked mean cross-entropy of logits [rows, vocab] at targets, mask [rows] (u32) */
  crossEntropy(encoder: GPUCommandEncoder, io: Omit<KernelBuffers<'cross-entropy'>, 'rowLoss'> & { loss: GPUBuffer }, rows: number, vocab: number): void {
    const rowLoss = this.scratch('cross-entropy row losses', rows * 4);
    this.dispatch(encoder, 'cross-entropy', packParams([rows, vocab]), { ...io, rowLoss }, rows);
    this.dispatch(encoder, 'cross-entropy-mean', packParams([rows]), { rowLoss, mask: io.mask, loss: io.loss }, 1);
  }

  /** dLogits [rows, vocab] of the masked mean cross-entropy */
  crossEntropyBackward(encoder: GPUCommandEncoder, io: KernelBuffers<'cross-entropy-backward'>, rows: number, vocab: number): void {
    this.dispatch(encoder, 'cross-entropy-backward', packParams([rows, vocab]), io, rows);
  }

  private rotate(encoder: GPUCommandEncoder, x: GPUBuffer, y: GPUBuffer, rows: number, nHeads: number, headDim: number, pos0: number, theta: number, sign: 1 | -1): void {
    if (headDim % 2 !== 0) throw new Error(`rope: headDim must be even, got ${headDim}`);
    const table = this.ropeTables.get(headDim, theta, pos0 + rows);
    this.dispatch(encoder, 'rope', packParams([rows, nHeads, headDim, pos0], [sign]), { x, table, y }, Math.ceil((rows * nHeads * headDim) / 2 / OP_WG));
  }

  private dispatch<K extends OpKernel>(encoder: GPUCommandEncoder, kernel: K, params: ArrayBuffer, io: KernelBuffers<K>, workgroups: number): void {
    recordDispatch(this.device, this.pipelines, encoder, kernel, params, io, workgroups, this.uniforms);
  }

  /** A per-call buffer between two dispatches of one op (≥ 4 bytes: zero-sized bindings are invalid). */
  private scratch(label: string, bytes: number): GPUBuffer {
    return this.device.createBuffer({ label, size: Math.max(4, bytes), usage: GPUBufferUsage.STORAGE });
  }
}

/** The attention kernels' Params: rows, pos0, nHeads, nKvHeads, headDim (u32), scale (f32). */
function attentionParams(s: AttentionShape): ArrayBuffer {
  if (s.nHeads % s.nKvHeads !== 0) throw new Error(`attention: nHeads ${s.nHeads} is not a multiple of nKvHeads ${s.nKvHeads}`);
  if (s.headDim > MAX_HEAD_DIM) throw new Error(`attention: headDim ${s.headDim} exceeds the kernels' ${MAX_HEAD_DIM}`);
  return packParams([s.rows, s.pos0, s.nHeads, s.nKvHeads, s.headDim], [1 / Math.sqrt(s.headDim)]);
}

const perDevice = new WeakMap<GPUDevice, Promise<WebGpuOps>>();

/** The device's ops, their pipelines built on first use only. */
export function opsFor(device: GPUDevice): Promise<WebGpuOps> {
  let ops = perDevice.get(device);
  if (!ops) {
    ops = WebGpuOps.create(device);
    perDevice.set(device, ops);
  }
  return ops;
}

/** A device for the ops alone (f32, the limits OP_NEEDS asks for). */
export function requestOpsDevice(adapter: GPUAdapter): Promise<GPUDevice> {
  return requestDevice(adapter, 'f32', { largestBuffer: 0, ...OP_NEEDS });
}
