/**
 * The tensors of one session's step (or of its K/V cache) on the device, and the ops between the
 * GEMMs on them (../activations.ts ActivationScope), each recorded into the pending encoder
 * (pending.ts). Released, its buffers go back to the pool once the work recorded on them is
 * submitted.
 */
import type { Floats } from '../../../shared/model/types';
import { checkShape } from '../../../shared/reference/ops';
import { columnWidths } from '../columns';
import type { ActivationScope } from '../activations';
import { DeviceTensor } from './device-tensor';
import type { WebGpuOps } from './ops/index';
import type { PendingWork } from './pending';

export class DeviceScope implements ActivationScope<DeviceTensor> {
  private owned: DeviceTensor[] = [];

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

  kvCache(layers: number, floats: number): { k: DeviceTensor; v: DeviceTensor }[] {
    return Array.from({ length: layers }, () => ({ k: this.zeros(floats), v: this.zeros(floats) }));
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
    this.owned.push(t);
    return t;
  }

  release(): void {
    this.retain([]);
  }

  retain(keep: readonly DeviceTensor[]): void {
    this.freeSince(0, keep);
    this.work.flushSoon();
  }

  mark(): number {
    return this.owned.length;
  }

  /** Mid-step: the buffers are recycled after the submit that runs the work recorded on them. */
  freeSince(mark: number, keep: readonly DeviceTensor[]): void {
    const kept = new Set(keep);
    for (const t of this.owned.splice(mark)) {
      if (kept.has(t)) this.owned.push(t);
      else this.work.retire(t);
    }
  }

  add(a: DeviceTensor, b: DeviceTensor): DeviceTensor {
    checkShape('add b', b, a.length);
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
    checkShape('splitColumns', y, rows * total);
    let col = 0;
    return widths.map((width) => {
      const part = this.make('columns', rows * width);
      if (width > 0) this.ops.copyColumns(this.work.encoder(), { src: y.buffer, dst: part.buffer }, rows, width, { stride: total, col }, { stride: width, col: 0 });
      col += width;
      return part;
    });
  }

  joinColumns(parts: readonly DeviceTensor[], rows: number): DeviceTensor {
    const widths = columnWidths(parts, rows);
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
    checkShape('rmsnorm x', x, rows * dim);
    const y = this.make('rmsnorm', rows * dim);
    this.ops.rmsnorm(this.work.encoder(), { x: x.buffer, weight: this.work.constant(weight), y: y.buffer }, rows, dim, eps);
    return y;
  }

  rmsnormBackward(dy: DeviceTensor, x: DeviceTensor, weight: Floats, rows: number, dim: number, eps: number): DeviceTensor {
    checkShape('rmsnormBackward dy', dy, rows * dim);
    checkShape('rmsnormBackward x', x, rows * dim);
    const dx = this.make('rmsnorm gradient', rows * dim);
    this.ops.rmsnormBackward(this.work.encoder(), { dy: dy.buffer, x: x.buffer, weight: this.work.constant(weight), dx: dx.buffer }, rows, dim, eps);
    return dx;
  }

  rope(x: DeviceTensor, rows: number, nHeads: number, headDim: number, pos0: number, theta: number): DeviceTensor {
    checkShape('rope x', x, rows * nHeads * headDim);
    const y = this.make('rope', x.length);
    this.ops.rope(this.work.encoder(), { x: x.buffer, y: y.buffer }, rows, nHeads, headDim, pos0, theta);
    return y;
  }

  ropeBackward(dy: DeviceTensor, rows: number, nHeads: number, headDim: number, pos0: number, theta: number): DeviceTensor {
    checkShape('ropeBackward dy', dy, rows * nHeads * headDim);
    const dx = this.make('rope gradient', dy.length);
    this.ops.ropeBackward(this.work.encoder(), { dy: dy.buffer, dx: dx.buffer }, rows, nHeads, headDim, pos0, theta);
    return dx;
  }

  siluMul(g: DeviceTensor, u: DeviceTensor): DeviceTensor {
    checkShape('siluMul u', u, g.length);
    const m = this.make('silu·mul', g.length);
    this.ops.siluMul(this.work.encoder(), { g: g.buffer, u: u.buffer, m: m.buffer }, g.length);
    return m;
  }

  siluMulBackward(dm: DeviceTensor, g: DeviceTensor, u: DeviceTensor): { dg: DeviceTensor; du: DeviceTensor } {
    checkShape('siluMulBackward g', g, dm.length);
    checkShape('siluMulBackward u', u, dm.length);
    const [dg, du] = [this.make('silu·mul gradient', dm.length), this.make('silu·mul gradient', dm.length)];
    this.ops.siluMulBackward(this.work.encoder(), { dm: dm.buffer, g: g.buffer, u: u.buffer, dg: dg.buffer, du: du.buffer }, dm.length);
    return { dg, du };
  }
}
