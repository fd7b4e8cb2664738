/**
 * The CPU backend's decode attention: one query row over a session's K/V cache, in WebAssembly
 * SIMD (decode-attention-kernel.ts): against the JavaScript loops of fastops.ts at the 30m preset's
 * heads, 3.8× as fast at 40 positions and ~5× from 100 on (23–27 GFLOP/s; 24 at 256 keys in
 * bench kernels' cpu column, where the loops ran ~5). A batched decode step runs one of
 * these per session and layer on the main thread, between the GEMMs: after the GEMMs it is the
 * largest share of the step.
 *
 * A kernel reads only its own memory, so each session's K/V cache lives in a WebAssembly.Memory
 * of its own, sized at open and never grown (growing would detach the cache's views), with the
 * kernel's scratch in front:
 *   [q: qDim | out: qDim | p: nHeads × capacity (rounded up to fours) | K₀ V₀ K₁ V₁ … : 2·nLayers × capacity·kvDim]
 * The garbage collector frees it with the session's arrays. A memory holds at most 4 GiB, and V8
 * reserves ~10 GiB of address space for each (~13,000 at once in a process): a session past
 * either keeps plain arrays, which JavaScript reads (fastops.ts), rather than failing to open.
 */
import type { AttentionShape } from '../../../shared/reference/ops';
import { checkAttention } from '../../../shared/reference/ops';
import { decodeAttentionFunctions } from './decode-attention-kernel';
import { PAGE, wasmModule } from '../wasm/writer';

export interface HeadDims {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
}

interface Kernel {
  scores(q: number, k: number, p: number, n: number, row: number, heads: number, group: number, hd: number, stride: number, scale: number): void;
  softmax(p: number, n: number, row: number, heads: number): void;
  weighted(p: number, v: number, out: number, n: number, row: number, heads: number, group: number, hd: number, stride: number): void;
}

/** One session's memory: its kernel instance and views of its scratch. */
interface SessionMemory {
  kernel: Kernel;
  q: Float32Array; // [qDim] at byte 0
  out: Float32Array; // [qDim]
  p: Float32Array; // [nHeads × capacity rounded up to whole vectors]
}

/** The most pages one WebAssembly memory may have (4 GiB: addresses are 32-bit). */
export const MAX_PAGES = 65536;
let compiled: WebAssembly.Module | undefined;

export class DecodeAttention {
  private readonly memories = new WeakMap<ArrayBufferLike, SessionMemory>();
  private readonly qDim: number;
  private readonly kvDim: number;

  constructor(private readonly dims: HeadDims) {
    if (dims.headDim % 4 !== 0) throw new Error(`decode attention: headDim must be a multiple of 4 (four float32 lanes), got ${dims.headDim}`);
    this.qDim = dims.nHeads * dims.headDim;
    this.kvDim = dims.nKvHeads * dims.headDim;
    compiled ??= new WebAssembly.Module(wasmModule(decodeAttentionFunctions(), 1));
  }

  /** The 64 KiB pages of a session's memory: its scratch, then its caches. */
  pages(layers: number, floats: number): number {
    return Math.ceil((4 * (this.cacheStart(floats) + 2 * layers * floats)) / PAGE);
  }

  /** Where the caches start, in floats: after q, out and p, 16-byte aligned. */
  private cacheStart(floats: number): number {
    return 2 * this.qDim + this.dims.nHeads * lanes(floats / this.kvDim);
  }

  /**
   * A session's zeroed K/V cache, `layers` × (K, V) of `floats` each, in a memory of its own; or
   * undefined where none can hold it — over 4 GiB (a 7B model's 4k context), or no address space
   * left for another — and the caller keeps plain arrays, read by JavaScript instead.
   */
  allocate(layers: number, floats: number): { k: Float32Array; v: Float32Array }[] | undefined {
    if (floats % this.kvDim !== 0) throw new Error(`decode attention: a cache of ${floats} floats is not whole rows of ${this.kvDim}`);
    const pages = this.pages(layers, floats);
    if (pages > MAX_PAGES) return undefined;
    let memory: WebAssembly.Memory;
    try {
      memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    } catch (e) {
      if (e instanceof RangeError) return undefined; // "could not allocate memory": address space
      throw e;
    }
    const cacheStart = this.cacheStart(floats);
    const kernel = new WebAssembly.Instance(compiled!, { env: { memory } }).exports as unknown as Kernel;
    const all = new Float32Array(memory.buffer);
    this.memories.set(memory.buffer, {
      kernel,
      q: all.subarray(0, this.qDim),
      out: all.subarray(this.qDim, 2 * this.qDim),
      p: all.subarray(2 * this.qDim, cacheStart),
    });
    return Array.from({ length: layers }, (_, l) => {
      const k = cacheStart + 2 * l * floats;
      return { k: all.subarray(k, k + floats), v: all.subarray(k + floats, k + 2 * floats) };
    });
  }

  /** Whether k and v are one of this attention's caches (then `attend` reads them in place). */
  holds(k: Float32Array, v: Float32Array): boolean {
    return k.buffer === v.buffer && this.memories.has(k.buffer);
  }

  /** = attention(q, k, v, shape) of shared/reference/ops for one row; k, v from `allocate`. */
  attend(q: Float32Array, k: Float32Array, v: Float32Array, shape: AttentionShape): Float32Array {
    checkAttention(q, k, v, shape);
    const { rows, pos0, nHeads, nKvHeads, headDim } = shape;
    const mem = this.memories.get(k.buffer);
    if (!mem || v.buffer !== k.buffer) throw new Error('decode attention: k and v are not one of its session caches');
    if (rows !== 1 || nHeads !== this.dims.nHeads || nKvHeads !== this.dims.nKvHeads || headDim !== this.dims.headDim) {
      throw new Error(`decode attention: built for one row of ${this.dims.nHeads}/${this.dims.nKvHeads} heads of ${this.dims.headDim}, called with ${rows} rows of ${nHeads}/${nKvHeads} of ${headDim}`);
    }
    const n = pos0 + 1;
    const row = 4 * lanes(n);
    const hd = 4 * headDim;
    const stride = 4 * this.kvDim;
    const group = nHeads / nKvHeads;
    mem.q.set(q);
    mem.kernel.scores(mem.q.byteOffset, k.byteOffset, mem.p.byteOffset, n, row, nHeads, group, hd, stride, 1 / Math.sqrt(headDim));
    mem.kernel.softmax(mem.p.byteOffset, n, row, nHeads);
    mem.kernel.weighted(mem.p.byteOffset, v.byteOffset, mem.out.byteOffset, n, row, nHeads, group, hd, stride);
    return mem.out.slice();
  }
}

/** n rounded up to whole vectors of four. */
const lanes = (n: number) => Math.ceil(n / 4) * 4;
