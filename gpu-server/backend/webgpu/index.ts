/**
 * The WebGPU backend: Dawn through npm `webgpu`, on whatever adapter Dawn finds (a GPU, or
 * lavapipe in CI).
 *
 * At creation: one device with explicit limits (device.ts), the base weights uploaded once into
 * labelled storage buffers, one per (layer, group) or, past the device's binding limit, one per
 * chunk of output rows (weights.ts), and the pipelines of the three linear WGSL kernels
 * (kernels.ts) and of the layer's ops (ops/).
 *
 * The engine runs on `activations` (activations.ts): its tensors stay on the device and every op
 * is recorded into one pending encoder, submitted when something must come back to the host.
 *
 * The Backend methods on host arrays (the parity tests, the kernel benchmark) are one submit and
 * one readback each:
 *  - linear: the input into a reusable buffer, a dispatch per chunk, a copy to a reusable staging
 *    buffer, one map;
 *  - attention and its backward, uploading the K/V rows they read.
 * These calls run one at a time, which is what makes the reusable buffers safe.
 *
 * Activations (x, dy, y, dx) are f32 everywhere; weights are f32 or f16 (device.ts).
 */
import type { Model, ModelConfig } from '../../../shared/model/types';
import { BackendInputError, checkCall, checkGroupCall, groupWeights } from '../groups';
import { checkAttention, type AttentionShape } from '../../../shared/reference/ops';
import type { AttentionCall, AttentionGradients, Backend, BackendInfo, WeightGroup } from '../types';
import { describeAdapter, findAdapter, NO_ADAPTER_MESSAGE } from './adapter';
import { GrowableBuffer } from './buffers';
import { choosePrecision, requestDevice, type WeightPrecision, type WeightPrecisionOption } from './device';
import { createKernels, dispatchFor, KERNEL_NEEDS, type Kernels } from './kernels';
import { Serial } from '../serial';
import { opsFor, type WebGpuOps } from './ops/index';
import { runOnDevice } from './ops/run';
import { freshUniforms, OP_NEEDS, type UniformSource } from './ops/kernels';
import { uploadGroup, weightBytes, type DeviceGroup } from './weights';
import { DeviceActivations } from './activations';

export type { WeightPrecision, WeightPrecisionOption } from './device';

export interface WebGpuBackendOptions {
  /** Weight precision on the device (device.ts); default 'auto'. */
  weights?: WeightPrecisionOption;
  /** Where the adapter comes from; default Dawn's high-performance adapter (tests replace it). */
  requestAdapter?: () => Promise<GPUAdapter | null>;
}

const LAYER_GROUPS = ['qkv', 'o', 'gateup', 'down'] as const;
type Op = 'linear' | 'linearBackward';

/** The per-call buffers, reused across calls (one call in flight at a time). */
interface CallBuffers {
  input: GrowableBuffer;
  output: GrowableBuffer;
  staging: GrowableBuffer;
}

export class WebGpuBackend implements Backend {
  readonly info: BackendInfo;
  private readonly serial = new Serial();
  private disposed = false;
  private lost: string | undefined;
  /** The engine's activations, kept on the device (activations.ts). */
  readonly activations: DeviceActivations;

  private constructor(
    private readonly config: ModelConfig,
    private readonly device: GPUDevice,
    private readonly kernels: Kernels,
    private readonly groups: Map<string, DeviceGroup>,
    private readonly buffers: CallBuffers,
    private readonly ops: WebGpuOps,
    adapter: string,
    readonly precision: WeightPrecision,
  ) {
    this.info = { name: 'webgpu', device: `${adapter}, ${precision} weights` };
    this.activations = new DeviceActivations(
      device,
      ops,
      {
        check: (op, layer, group, length, rows) => {
          const shape = checkGroupCall(config, op, layer, group, length, rows);
          this.checkSize(op, group, length * 4, rows, this.group(layer, group));
          return rows * (op === 'linear' ? shape.outDim : shape.inDim);
        },
        record: (encoder, op, layer, group, input, output, rows, uniforms) => this.recordLinear(encoder, op, this.group(layer, group), input, output, rows, uniforms),
        checkUsable: () => this.checkUsable(),
      },
      config,
    );
    void device.lost.then((info) => {
      if (!this.disposed) this.lost = `${info.reason}: ${info.message}`;
    });
  }

  static async create(model: Model, opts: WebGpuBackendOptions = {}): Promise<WebGpuBackend> {
    const adapter = await (opts.requestAdapter ?? findAdapter)();
    if (!adapter) throw new Error(NO_ADAPTER_MESSAGE);
    const precision = choosePrecision(adapter, opts.weights);
    const targets = modelGroups(model);
    const weights = targets.map(([layer, group]) => ({ layer, group, g: groupWeights(model, layer, group) }));
    // A group larger than one binding is split into chunks of whole rows (weights.ts); one row must fit.
    const widestRow = Math.max(...weights.map(({ g }) => weightBytes(g.inDim, precision)));
    const device = await requestDevice(adapter, precision, {
      largestBuffer: widestRow,
      workgroupStorage: Math.max(KERNEL_NEEDS.workgroupStorage, OP_NEEDS.workgroupStorage),
      invocationsPerWorkgroup: Math.max(KERNEL_NEEDS.invocationsPerWorkgroup, OP_NEEDS.invocationsPerWorkgroup),
    });
    try {
      device.pushErrorScope('out-of-memory');
      device.pushErrorScope('validation');
      const kernels = await createKernels(device, precision);
      const maxOut = Math.max(...weights.map(({ g }) => g.outDim));
      const zeros = device.createBuffer({ label: 'zero bias', size: maxOut * 4, usage: GPUBufferUsage.STORAGE });
      const groups = new Map<string, DeviceGroup>();
      const binding = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
      for (const { layer, group, g } of weights) groups.set(key(layer, group), uploadGroup(device, groupLabel(layer, group), g, precision, zeros, binding));
      const buffers = callBuffers(device);
      const ops = await opsFor(device);
      await throwScopeErrors(device, 'creating the webgpu backend');
      return new WebGpuBackend(model.config, device, kernels, groups, buffers, ops, describeAdapter(adapter.info), precision);
    } catch (e) {
      device.destroy();
      throw e;
    }
  }

  linear(layer: number, group: WeightGroup, x: Float32Array, rows: number): Promise<Float32Array> {
    return this.call('linear', layer, group, x, rows);
  }

  linearBackward(layer: number, group: WeightGroup, dy: Float32Array, rows: number): Promise<Float32Array> {
    return this.call('linearBackward', layer, group, dy, rows);
  }

  /** Checks the call (throws before the device sees anything), then runs it after the previous one. */
  private call(op: Op, layer: number, group: WeightGroup, data: Float32Array, rows: number): Promise<Float32Array> {
    let g: DeviceGroup;
    try {
      this.checkUsable();
      checkCall(this.config, op, layer, group, data, rows);
      g = this.group(layer, group);
      this.checkSize(op, group, data.byteLength, rows, g);
    } catch (e) {
      return Promise.reject(e);
    }
    if (rows === 0) return Promise.resolve(new Float32Array(0));
    return this.enqueue(() => this.run(op, g, data, rows));
  }

  // Attention and its backward from host arrays (the engine's K/V caches live on the device:
  // activations.ts) through the WGSL kernels (ops/): a call uploads q (and dOut) and the cache
  // rows it reads.
  attention(q: Float32Array, k: Float32Array, v: Float32Array, shape: AttentionShape): Promise<Float32Array> {
    return this.attentionOnDevice({ q, k, v, shape }, { out: q.length }, (e, b) => this.ops.attention(e, { q: b.q, k: b.k, v: b.v, out: b.out }, shape)).then((r) => r.out);
  }

  attentionBackward(dOut: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, shape: AttentionShape): Promise<AttentionGradients> {
    const keys = (shape.pos0 + shape.rows) * shape.nKvHeads * shape.headDim;
    return this.attentionOnDevice({ q, k, v, shape, dOut }, { dq: q.length, dk: keys, dv: keys }, (e, b) =>
      this.ops.attentionBackward(e, { dOut: b.dOut, q: b.q, k: b.k, v: b.v, dq: b.dq, dk: b.dk, dv: b.dv }, shape),
    );
  }

  /** The call checked (throws before the device sees anything), then run from host arrays (q, dOut and the K/V rows it reads) after the previous call. */
  private attentionOnDevice<O extends string>(
    { q, k, v, shape, dOut }: AttentionCall & { dOut?: Float32Array },
    outputs: Record<O, number>,
    record: (encoder: GPUCommandEncoder, buffers: Record<'q' | 'k' | 'v' | 'dOut' | O, GPUBuffer>) => void,
  ): Promise<Record<O, Float32Array>> {
    try {
      checkAttention(q, k, v, shape, dOut);
    } catch (e) {
      return Promise.reject(e);
    }
    const keys = (shape.pos0 + shape.rows) * shape.nKvHeads * shape.headDim;
    // dOut only for the backward, which alone binds it
    const inputs = { q, k: k.subarray(0, keys), v: v.subarray(0, keys), ...(dOut ? { dOut } : {}) } as Record<'q' | 'k' | 'v' | 'dOut', Float32Array>;
    return this.enqueue(() => runOnDevice<'q' | 'k' | 'v' | 'dOut', O>(this.device, inputs, outputs, record));
  }

  /** One call on the device at a time: the call buffers are shared. */
  private enqueue<T>(run: () => Promise<T>): Promise<T> {
    try {
      this.checkUsable();
    } catch (e) {
      return Promise.reject(e);
    }
    return this.serial.run(run);
  }

  private checkUsable(): void {
    if (this.disposed) throw new Error('webgpu backend: used after dispose()');
    if (this.lost) throw new Error(`webgpu backend: the device was lost (${this.lost})`);
  }

  private group(layer: number, group: WeightGroup): DeviceGroup {
    return this.groups.get(key(group === 'lmHead' ? 0 : layer, group))!;
  }

  /** A batch whose input or output would not fit one binding is refused, not split. */
  private checkSize(op: Op, group: WeightGroup, inBytes: number, rows: number, g: DeviceGroup): void {
    const limit = this.device.limits.maxStorageBufferBindingSize;
    const outBytes = rows * (op === 'linear' ? g.outDim : g.inDim) * 4;
    if (Math.max(inBytes, outBytes) > limit) {
      throw new BackendInputError(`${op}(${group}): ${rows} rows need ${Math.max(inBytes, outBytes)} bytes in one binding, the device allows ${limit}; send fewer rows per call`);
    }
    const { grid } = dispatchFor(op, rows, g.inDim, g.chunks[0].outCount); // the first chunk is the largest
    if (Math.max(...grid) > this.device.limits.maxComputeWorkgroupsPerDimension) throw new BackendInputError(`${op}(${group}): ${rows} rows need a workgroup grid of ${grid.join('×')}, beyond the device's limit`);
  }

  /** One call on the device: write the input, one encoder, one submit, one readback. */
  private async run(op: Op, g: DeviceGroup, data: Float32Array, rows: number): Promise<Float32Array> {
    const { device, buffers } = this;
    const outBytes = rows * (op === 'linear' ? g.outDim : g.inDim) * 4;
    const input = buffers.input.get(data.byteLength);
    const output = buffers.output.get(outBytes);
    const staging = buffers.staging.get(outBytes);
    device.pushErrorScope('validation');
    device.queue.writeBuffer(input, 0, data.buffer, data.byteOffset, data.byteLength);
    const encoder = device.createCommandEncoder({ label: `${op} ${rows} rows` });
    this.recordLinear(encoder, op, g, input, output, rows);
    encoder.copyBufferToBuffer(output, 0, staging, 0, outBytes);
    device.queue.submit([encoder.finish()]);
    const error = device.popErrorScope();
    await staging.mapAsync(GPUMapMode.READ, 0, outBytes);
    const result = new Float32Array(staging.getMappedRange(0, outBytes).slice(0));
    staging.unmap();
    const e = await error;
    if (e) throw new Error(`webgpu backend: ${op} failed validation: ${e.message}`);
    return result;
  }

  /**
   * Records one linear op of group g into the encoder: a dispatch per chunk (one for a group that
   * fits a binding), each placing its outputs by offset; backward chunks after the first add
   * into dx. Each dispatch gets its params in a uniform of its own (as ops/kernels.ts
   * recordDispatch), so one encoder may hold any number of linear ops before its submit.
   */
  private recordLinear(encoder: GPUCommandEncoder, op: Op, g: DeviceGroup, input: GPUBuffer, output: GPUBuffer, rows: number, uniforms: UniformSource = freshUniforms(this.device)): void {
    g.chunks.forEach((c, i) => {
      const accumulate = op === 'linearBackward' && i > 0 ? 1 : 0;
      const params = uniforms(`${op} params`, new Uint32Array([rows, g.inDim, c.outCount, g.outDim, c.out0, accumulate, 0, 0]));
      const { kernel, grid } = dispatchFor(op, rows, g.inDim, c.outCount);
      const bindGroup = this.device.createBindGroup({
        label: `${kernel} call`,
        layout: this.kernels.layout,
        entries: [params, c.weight, c.bias, input, output].map((buffer, binding) => ({ binding, resource: { buffer } })),
      });
      const pass = encoder.beginComputePass({ label: kernel });
      pass.setPipeline(this.kernels.pipelines[kernel]);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(grid[0], grid[1]);
      pass.end();
    });
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.serial.drained();
    this.groups.clear();
    this.device.destroy();
  }
}

/** Every (layer, group) the backend holds: the four layer groups of each layer, then lmHead. */
function modelGroups(model: Model): [number, WeightGroup][] {
  const targets = model.weights.layers.flatMap((_, l) => LAYER_GROUPS.map((g): [number, WeightGroup] => [l, g]));
  targets.push([0, 'lmHead']);
  return targets;
}

function callBuffers(device: GPUDevice): CallBuffers {
  const { maxStorageBufferBindingSize: binding, maxBufferSize } = device.limits;
  return {
    input: new GrowableBuffer(device, 'linear input (x or dy)', GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, binding),
    output: new GrowableBuffer(device, 'linear output (y or dx)', GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, binding),
    staging: new GrowableBuffer(device, 'linear readback', GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, maxBufferSize),
  };
}

/** Pops the validation and out-of-memory scopes pushed (in that order) before `what`. */
async function throwScopeErrors(device: GPUDevice, what: string): Promise<void> {
  const [validation, oom] = [await device.popErrorScope(), await device.popErrorScope()];
  const error = validation ?? oom;
  if (error) throw new Error(`${what}: ${error.message}`);
}

function key(layer: number, group: WeightGroup): string {
  return `${layer}:${group}`;
}

function groupLabel(layer: number, group: WeightGroup): string {
  return group === 'lmHead' ? 'lmHead' : `layer ${layer} ${group}`;
}
