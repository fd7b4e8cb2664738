/**
 * Free host arrays by length, so that the engine's activations on the host stop being garbage.
 *
 * Every activation was a fresh Float32Array (~300 MB a step of a 110m training session), and V8
 * starts a full marking cycle each time ~64 MB more ArrayBuffer memory has been allocated,
 * however small the JavaScript heap: the shared training server ran one every ~100 ms, a sixth of
 * its main thread. A step's scope (host-activations.ts) takes its arrays here and gives them back
 * as each layer ends (ActivationScope.freeSince) and when it is released; one model's shapes
 * repeat every layer and every step, so exact lengths match. What onnxruntime returns is its own
 * allocation and never enters the pool.
 */
export type Alloc = (n: number) => Float32Array;

export const newFloats: Alloc = (n) => new Float32Array(n);

/** The free arrays of one length, and when one was last taken (the pool's clock). */
interface Free {
  arrays: Float32Array[];
  taken: number;
}

export class HostPool {
  private readonly free = new Map<number, Free>();
  /** What `free` holds: an array given twice would later be taken by two users at once. */
  private readonly held = new WeakSet<Float32Array>();
  private pooled = 0;
  private clock = 0;

  /**
   * `maxBytes`: what the pool may hold. Beyond it, arrays of the length taken least recently are
   * left to the garbage collector (a batched op's stacked rows come in many lengths, some rare).
   */
  constructor(readonly maxBytes: number) {}

  /** Bytes held for reuse now. */
  get bytes(): number {
    return this.pooled;
  }

  /** A whole array of n floats, holding whatever it last held. */
  take(n: number): Float32Array {
    const free = this.free.get(n);
    const a = free?.arrays.pop();
    if (!a) return new Float32Array(n);
    free!.taken = ++this.clock;
    this.held.delete(a);
    this.pooled -= a.byteLength;
    return a;
  }

  /** Takes `a` back; its last user must be done with it. A view is refused: other arrays may cover its memory. */
  give(a: Float32Array): void {
    if (a.byteOffset !== 0 || a.byteLength !== a.buffer.byteLength) throw new Error(`HostPool.give: a view (${a.length} floats at byte ${a.byteOffset} of ${a.buffer.byteLength}) is not a whole array`);
    if (this.held.has(a)) throw new Error(`HostPool.give: an array of ${a.length} floats given twice`);
    if (a.length === 0 || a.byteLength > this.maxBytes) return;
    let free = this.free.get(a.length);
    if (!free) this.free.set(a.length, (free = { arrays: [], taken: 0 }));
    free.arrays.push(a);
    this.held.add(a);
    this.pooled += a.byteLength;
    while (this.pooled > this.maxBytes) this.evictOne();
  }

  /** Drops one array of the length taken least recently (never taken: first). */
  private evictOne(): void {
    let stale: Free | undefined;
    for (const free of this.free.values()) if (free.arrays.length > 0 && (!stale || free.taken < stale.taken)) stale = free;
    const a = stale!.arrays.pop()!;
    this.held.delete(a);
    this.pooled -= a.byteLength;
  }
}
