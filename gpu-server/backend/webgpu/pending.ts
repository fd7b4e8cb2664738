/**
 * The one pending command encoder every device activation op is recorded into (activations.ts),
 * its submits and readbacks, and the pools its tensors' buffers come from.
 *
 * Buffers are recycled, not made per op: a decode token of one session makes ~20 tensors and ~19
 * dispatches, each with its params, per layer (counted on the 6m preset), and a buffer costs
 * ~4 µs to create on lavapipe, plus its garbage. A released tensor's buffer goes back to a pool of its byte size
 * at once if nothing recorded waits, else right after the next submit — queue order then puts
 * any reuse after the work that read it; reusing it inside the same encoder would not be safe.
 * Params uniforms likewise: each dispatch gets its own, written with queue.writeBuffer (queued
 * before the submit that runs it) and pooled again after that submit.
 */
import type { Floats } from '../../../shared/model/types';
import { DeviceTensor } from './device-tensor';
import { outputBuffer, uploadBuffer } from './ops/run';

/** Bytes of free buffers kept for reuse at most; past it a freed buffer is destroyed. */
const POOL_BYTES = 256 * 2 ** 20;

export class PendingWork {
  private pending: GPUCommandEncoder | undefined;
  /** Buffers freed while work was recorded: pooled again after the next submit. */
  private retired: GPUBuffer[] = [];
  private readonly storagePool = new Map<number, GPUBuffer[]>();
  private readonly uniformPool = new Map<number, GPUBuffer[]>();
  private readonly uniforms = new Set<GPUBuffer>();
  private pooled = 0;
  private failure: string | undefined;
  /** The submit that reads recorded in this turn wait for (one for all of them). */
  private soon: Promise<string | undefined> | undefined;
  /** The buffers of tensors handed out and not yet released (pooled ones are not): a test's leak check. */
  private readonly live = new Set<GPUBuffer>();
  /** Norm weights, uploaded once each (model weights never change). */
  private readonly constants = new WeakMap<Floats, GPUBuffer>();
  /** Submits so far: what a test counts to see a step's work go out together. */
  submits = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly checkUsable: () => void,
  ) {}

  /** Bytes of released buffers kept for reuse. */
  get pooledBytes(): number {
    return this.pooled;
  }

  /** The encoder everything is recorded into until the next submit. */
  encoder(): GPUCommandEncoder {
    this.checkUsable();
    if (this.failure) throw new Error(`webgpu backend: recorded work failed validation earlier (${this.failure})`);
    this.pending ??= this.device.createCommandEncoder({ label: 'activations' });
    return this.pending;
  }

  /** A tensor of n elements, owned by nobody yet, for an op to write whole: its contents are stale. */
  tensor(label: string, n: number): DeviceTensor {
    const buffer = this.fromPool(this.storagePool, Math.max(4, 4 * n)) ?? outputBuffer(this.device, label, n);
    return this.track(new DeviceTensor(buffer, n));
  }

  /** A tensor of n zeros (cleared by the pending encoder, before what is recorded next). */
  zeros(label: string, n: number): DeviceTensor {
    const t = this.tensor(label, n);
    this.encoder().clearBuffer(t.buffer);
    return t;
  }

  /** Host values in a tensor (queue.writeBuffer: queued before the submit of what reads it). */
  upload(label: string, x: Float32Array | Uint32Array): DeviceTensor {
    const t = this.tensor(label, x.length);
    if (x.length > 0) this.device.queue.writeBuffer(t.buffer, 0, x.buffer, x.byteOffset, x.byteLength);
    return t;
  }

  /** A dispatch's params (a UniformSource): a uniform of its own until the next submit. */
  readonly uniform = (label: string, params: ArrayBuffer | Uint32Array): GPUBuffer => {
    const size = Math.max(16, Math.ceil(params.byteLength / 16) * 16);
    let buffer = this.fromPool(this.uniformPool, size);
    if (!buffer) {
      buffer = this.device.createBuffer({ label: 'dispatch params', size, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
      this.uniforms.add(buffer);
    }
    this.device.queue.writeBuffer(buffer, 0, params instanceof ArrayBuffer ? params : params.buffer, params instanceof ArrayBuffer ? 0 : params.byteOffset, params.byteLength);
    this.encoder(); // the uniform goes back to the pool after the submit of the encoder that uses it
    this.retired.push(buffer);
    return buffer;
  };

  private track(t: DeviceTensor): DeviceTensor {
    this.live.add(t.buffer);
    return t;
  }

  /** Tensors handed out and not yet released. */
  get liveTensors(): number {
    return this.live.size;
  }

  constant(values: Floats): GPUBuffer {
    let buffer = this.constants.get(values);
    if (!buffer) {
      buffer = uploadBuffer(this.device, 'norm weight', values instanceof Float32Array ? values : Float32Array.from(values));
      this.constants.set(values, buffer);
    }
    return buffer;
  }

  /** Pools the tensor's buffer now, or right after the next submit if work is recorded (it may use the buffer). */
  retire(t: DeviceTensor): void {
    const buffer = t.release();
    if (this.pending) this.retired.push(buffer);
    else this.recycle(buffer);
  }

  /** Makes sure what waits for a submit gets one within a turn (a step that ends without reading). */
  flushSoon(): void {
    if (this.pending) void this.submitSoon();
  }

  private fromPool(pools: Map<number, GPUBuffer[]>, size: number): GPUBuffer | undefined {
    const buffer = pools.get(size)?.pop();
    if (buffer) this.pooled -= size;
    return buffer;
  }

  private recycle(buffer: GPUBuffer): void {
    this.live.delete(buffer);
    if (this.pooled + buffer.size > POOL_BYTES) {
      this.uniforms.delete(buffer);
      return buffer.destroy();
    }
    const pools = this.uniforms.has(buffer) ? this.uniformPool : this.storagePool;
    let pool = pools.get(buffer.size);
    if (!pool) pools.set(buffer.size, (pool = []));
    pool.push(buffer);
    this.pooled += buffer.size;
  }

  /** Submits what is recorded, if anything; resolves to the validation error's message, if one. */
  submit(): Promise<string | undefined> {
    if (!this.pending) return Promise.resolve(undefined);
    const encoder = this.pending;
    this.pending = undefined;
    this.device.pushErrorScope('validation');
    this.device.queue.submit([encoder.finish()]);
    this.submits++;
    const error = this.device.popErrorScope().then((e) => {
      if (e) this.failure ??= e.message;
      return e?.message;
    });
    for (const b of this.retired.splice(0)) this.recycle(b);
    return error;
  }

  /** One submit, a turn from now, for every read recorded until then (all the sessions a batched op resumed). */
  private submitSoon(): Promise<string | undefined> {
    this.soon ??= new Promise((resolve) =>
      setImmediate(() => {
        this.soon = undefined;
        resolve(this.submit());
      }),
    );
    return this.soon;
  }

  /** The tensors' values: copies into one staging buffer, one map, and the submit shared with the turn's other reads. */
  async read(tensors: readonly DeviceTensor[]): Promise<Float32Array[]> {
    const encoder = this.encoder();
    const total = tensors.reduce((n, t) => n + t.length, 0);
    const staging = this.device.createBuffer({ label: 'activations readback', size: Math.max(4, total * 4), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    let at = 0;
    for (const t of tensors) {
      if (t.length > 0) encoder.copyBufferToBuffer(t.buffer, 0, staging, at * 4, t.length * 4);
      at += t.length;
    }
    try {
      const failed = await this.submitSoon();
      if (failed) throw new Error(`webgpu backend: recorded work failed validation: ${failed}`);
      await staging.mapAsync(GPUMapMode.READ);
      const all = new Float32Array(staging.getMappedRange().slice(0, total * 4));
      at = 0;
      return tensors.map((t) => all.subarray(at, (at += t.length)));
    } finally {
      staging.destroy();
    }
  }
}
