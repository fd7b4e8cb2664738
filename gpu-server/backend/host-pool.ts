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

export class HostPool {
  /** Free arrays by length, the length taken least recently first (a Map keeps insertion order). */
  private readonly free = new Map<number, Float32Array[]>();
  /** What `free` holds: an array given twice would later be taken by two users at once. */
  private readonly held = new WeakSet<Float32Array>();
  private pooled = 0;

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
    const list = this.free.get(n);
    const a = list?.pop();
    if (!a) return new Float32Array(n);
    this.free.delete(n);
    this.free.set(n, list!);
    this.held.delete(a);
    this.pooled -= a.byteLength;
    return a;
  }

  /** Takes `a` back; its last user must be done with it. A view is refused: other arrays may cover its memory. */
  give(a: Float32Array): void {
    if (a.byteOffset !== 0 || a.byteLength !== a.buffer.byteLength) throw new Error(`HostPool.give: a view (${a.length} floats at byte ${a.byteOffset} of ${a.buffer.byteLength}) is not a whole array`);
    if (this.held.has(a)) throw new Error(`HostPool.give: an array of ${a.length} floats given twice`);
    if (a.length === 0 || a.byteLength > this.maxBytes) return;
    let list = this.free.get(a.length);
    if (!list) this.free.set(a.length, (list = []));
    list.push(a);
    this.held.add(a);
    this.pooled += a.byteLength;
    this.evict();
  }

  /** Drops arrays of the lengths taken least recently until the pool is within maxBytes. */
  private evict(): void {
    for (const [n, stale] of this.free) {
      while (this.pooled > this.maxBytes && stale.length > 0) {
        this.held.delete(stale.pop()!);
        this.pooled -= 4 * n;
      }
      if (stale.length === 0) this.free.delete(n);
      if (this.pooled <= this.maxBytes) return;
    }
  }
}
