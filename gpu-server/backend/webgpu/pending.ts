/**
 * Device tensors, the one pending command encoder they are recorded into, and the scopes that
 * own them (../activations.ts).
 *
 * Buffers are recycled, not made per op: a decode step of one session makes ~30 tensors and ~12
 * dispatch params per layer, and creating each (~4 µs on lavapipe, plus its garbage) cost more
 * host time than the step's ops. A released tensor's buffer goes back to a pool of its byte size
 * at once if nothing recorded waits, else right after the next submit — queue order then puts
 * any reuse after the work that read it; reusing it inside the same encoder would not be safe.
 * Params uniforms likewise: each dispatch gets its own, written with queue.writeBuffer (queued
 * before the submit that runs it) and pooled again after that submit.
 */
import type { Floats } from '../../../shared/model/types';
import type { ActivationScope } from '../activations';
import type { WebGpuOps } from './ops/index';
import { outputBuffer, uploadBuffer } from './ops/run';

/** An f32 activation in a storage buffer; byteLength as a Float32Array's, for the memory accounting. */
export class DeviceTensor {
  constructor(
    readonly buffer: GPUBuffer,
    readonly length: number,
  ) {}

  get byteLength(): number {
    return this.length * 4;
  }
}

export function expectLength(what: string, t: DeviceTensor, n: number): void {
  if (t.length !== n) throw new Error(`${what}: ${t.length} elements, expected ${n}`);
}

/** Bytes of free buffers kept for reuse at most; past it a freed buffer is destroyed. */
const POOL_BYTES = 256 * 2 ** 20;

export class PendingWork {
  private pending: GPUCommandEncoder | undefined;
  /** Buffers freed while work was recorded: pooled again after the next submit. */
  private retired: GPUBuffer[] = [];
  private readonly storagePool = new Map<number, GPUBuffer[]>();
  private readonly uniformPool = new Map<number, GPUBuffer[]>();
  private readonly uniforms = new Set<GPUBuffer>();
  private pooledBytes = 0;
  private failure: string | undefined;
  /** The submit that reads recorded in this turn wait for (one for all of them). */
  private soon: Promise<string | undefined> | undefined;
  /** Every tensor buffer not yet destroyed: a test's leak check. */
  private readonly live = new Set<GPUBuffer>();
  /** Norm weights, uploaded once each (model weights never change). */
  private readonly constants = new WeakMap<Floats, GPUBuffer>();
  /** Submits so far: what a test counts to see a step's work go out together. */
  submits = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly checkUsable: () => void,
  ) {}

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

  /** Tensor buffers created and not yet destroyed. */
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

  /** Pools the buffer now, or right after the next submit if work is recorded (it may use the buffer). */
  retire(buffer: GPUBuffer): void {
    if (this.pending) this.retired.push(buffer);
    else this.recycle(buffer);
  }

  /** Makes sure what waits for a submit gets one within a turn (a step that ends without reading). */
  flushSoon(): void {
    if (this.pending) void this.submitSoon();
  }

  private fromPool(pools: Map<number, GPUBuffer[]>, size: number): GPUBuffer | undefined {
    const buffer = pools.get(size)?.pop();
    if (buffer) this.pooledBytes -= size;
    return buffer;
  }

  private recycle(buffer: GPUBuffer): void {
    this.live.delete(buffer);
    if (this.pooledBytes + buffer.size > POOL_BYTES) {
      this.uniforms.delete(buffer);
      return buffer.destroy();
    }
    const pools = this.uniforms.has(buffer) ? this.uniformPool : this.storagePool;
    let pool = pools.get(buffer.size);
    if (!pool) pools.set(buffer.size, (pool = []));
    pool.push(buffer);
    this.pooledBytes += buffer.size;
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
      const error = this.submitSoon();
      await error;
      await staging.mapAsync(GPUMapMode.READ);
      const all = new Float32Array(staging.getMappedRange().slice(0, total * 4));
      const e = await error;
      if (e) throw new Error(`webgpu backend: recorded work failed validation: ${e}`);
      at = 0;
      return tensors.map((t) => all.subarray(at, (at += t.length)));
    } finally {
      staging.destroy();
    }
  }
}

/** The tensors of one session's step (or its KV cache), and the ops between GEMMs, recorded. */
export class DeviceScope implements ActivationScope<DeviceTensor> {
  private owned: GPUBuffer[] = [];

  constructor(
    private readonly work: PendingWork,
    private readonly ops: WebGpuOps,
  ) {}

  private make(label: string, n: number): DeviceTensor {
    return this.adopt(this.work.tensor(label, n));
  }

  upload(x: Float32Array): DeviceTensor {
    return this.adopt(this.work.upload('uploaded', x));
  }

  async read(t: DeviceTensor): Promise<Float32Array> {
    return (await this.work.read([t]))[0];
  }

  zeros(n: number): DeviceTensor {
    return this.adopt(this.work.zeros('zeros', n));
  }

  slice(t: DeviceTensor, from: number, to: number): DeviceTensor {
    if (!(0 <= from && from <= to && to <= t.length)) throw new Error(`slice [${from}, ${to}) of ${t.length} elements`);
    const out = this.make('slice', to - from);
    if (to > from) this.work.encoder().copyBufferToBuffer(t.buffer, from * 4, out.buffer, 0, (to - from) * 4);
    return out;
  }

  write(dst: DeviceTensor, src: DeviceTensor, at: number): void {
    if (at < 0 || at + src.length > dst.length) throw new Error(`write: ${src.length} elements at ${at} overflow ${dst.length}`);
    if (src.length > 0) this.work.encoder().copyBufferToBuffer(src.buffer, 0, dst.buffer, at * 4, src.length * 4);
  }

  adopt(t: DeviceTensor): DeviceTensor {
    this.owned.push(t.buffer);
    return t;
  }

  release(): void {
    this.retain([]);
  }

  retain(keep: readonly DeviceTensor[]): void {
    const kept = new Set(keep.map((t) => t.buffer));
    for (const b of this.owned.splice(0)) {
      if (kept.has(b)) this.owned.push(b);
      else this.work.retire(b);
    }
    this.work.flushSoon();
  }

  add(a: DeviceTensor, b: DeviceTensor): DeviceTensor {
    expectLength('add b', b, a.length);
    const out = this.make('sum', a.length);
    this.ops.add(this.work.encoder(), { a: a.buffer, b: b.buffer, out: out.buffer }, a.length);
    return out;
  }

  concatRows(a: DeviceTensor, b: DeviceTensor): DeviceTensor {
    const out = this.make('rows', a.length + b.length);
    this.write(out, a, 0);
    this.write(out, b, a.length);
    return out;
  }

  splitColumns(y: DeviceTensor, rows: number, widths: readonly number[]): DeviceTensor[] {
    const total = widths.reduce((s, w) => s + w, 0);
    expectLength('splitColumns', y, rows * total);
    let col = 0;
    return widths.map((width) => {
      const part = this.make('columns', rows * width);
      if (width > 0) this.ops.copyColumns(this.work.encoder(), { src: y.buffer, dst: part.buffer }, rows, width, { stride: total, col }, { stride: width, col: 0 });
      col += width;
      return part;
    });
  }

  joinColumns(parts: readonly DeviceTensor[], rows: number): DeviceTensor {
    const widths = parts.map((p) => p.length / rows);
    widths.forEach((w, i) => {
      if (!Number.isInteger(w)) throw new Error(`joinColumns: part ${i} has ${parts[i].length} elements, not a multiple of ${rows} rows`);
    });
    const total = widths.reduce((s, w) => s + w, 0);
    const out = this.make('joined columns', rows * total);
    let col = 0;
    parts.forEach((part, i) => {
      if (widths[i] > 0) this.ops.copyColumns(this.work.encoder(), { src: part.buffer, dst: out.buffer }, rows, widths[i], { stride: widths[i], col: 0 }, { stride: total, col });
      col += widths[i];
    });
    return out;
  }

  rmsnorm(x: DeviceTensor, weight: Floats, rows: number, dim: number, eps: number): DeviceTensor {
    expectLength('rmsnorm x', x, rows * dim);
    const y = this.make('rmsnorm', rows * dim);
    this.ops.rmsnorm(this.work.encoder(), { x: x.buffer, weight: this.work.constant(weight), y: y.buffer }, rows, dim, eps);
    return y;
  }

  rmsnormBackward(dy: DeviceTensor, x: DeviceTensor, weight: Floats, rows: number, dim: number, eps: number): DeviceTensor {
    expectLength('rmsnormBackward dy', dy, rows * dim);
    expectLength('rmsnormBackward x', x, rows * dim);
    const dx = this.make('rmsnorm gradient', rows * dim);
    this.ops.rmsnormBackward(this.work.encoder(), { dy: dy.buffer, x: x.buffer, weight: this.work.constant(weight), dx: dx.buffer }, rows, dim, eps);
    return dx;
  }

  rope(x: DeviceTensor, rows: number, nHeads: number, headDim: number, pos0: number, theta: number): DeviceTensor {
    expectLength('rope x', x, rows * nHeads * headDim);
    const y = this.make('rope', x.length);
    this.ops.rope(this.work.encoder(), { x: x.buffer, y: y.buffer }, rows, nHeads, headDim, pos0, theta);
    return y;
  }

  ropeBackward(dy: DeviceTensor, rows: number, nHeads: number, headDim: number, pos0: number, theta: number): DeviceTensor {
    expectLength('ropeBackward dy', dy, rows * nHeads * headDim);
    const dx = this.make('rope gradient', dy.length);
    this.ops.ropeBackward(this.work.encoder(), { dy: dy.buffer, dx: dx.buffer }, rows, nHeads, headDim, pos0, theta);
    return dx;
  }

  siluMul(g: DeviceTensor, u: DeviceTensor): DeviceTensor {
    expectLength('siluMul u', u, g.length);
    const m = this.make('silu·mul', g.length);
    this.ops.siluMul(this.work.encoder(), { g: g.buffer, u: u.buffer, m: m.buffer }, g.length);
    return m;
  }

  siluMulBackward(dm: DeviceTensor, g: DeviceTensor, u: DeviceTensor): { dg: DeviceTensor; du: DeviceTensor } {
    expectLength('siluMulBackward g', g, dm.length);
    expectLength('siluMulBackward u', u, dm.length);
    const [dg, du] = [this.make('silu·mul gradient', dm.length), this.make('silu·mul gradient', dm.length)];
    this.ops.siluMulBackward(this.work.encoder(), { dm: dm.buffer, g: g.buffer, u: u.buffer, dg: dg.buffer, du: du.buffer }, dm.length);
    return { dg, du };
  }
}
