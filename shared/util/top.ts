/**
 * The k largest of n values without sorting all n: a min-heap of the best k seen so far, O(n log k).
 * Sampling's top-k and the k most likely tokens of logprobs used to sort the whole vocabulary per
 * token (~7 ms at 32k tokens).
 */

/** Indices of the k largest values, largest first; equal values lower index first (as a stable descending sort). */
export function topIndices(values: ArrayLike<number>, k: number): number[] {
  const n = values.length;
  k = Math.max(0, Math.min(k, n));
  if (k === 0) return [];
  // worse(a, b): a ranks below b (smaller value, or equal value and higher index)
  const worse = (a: number, b: number) => values[a] < values[b] || (values[a] === values[b] && a > b);
  const heap: number[] = []; // heap[0] is the worst of the best k
  const siftDown = (at: number) => {
    for (;;) {
      const l = 2 * at + 1;
      const r = l + 1;
      let worst = at;
      if (l < heap.length && worse(heap[l], heap[worst])) worst = l;
      if (r < heap.length && worse(heap[r], heap[worst])) worst = r;
      if (worst === at) return;
      [heap[at], heap[worst]] = [heap[worst], heap[at]];
      at = worst;
    }
  };
  for (let i = 0; i < n; i++) {
    if (heap.length < k) {
      heap.push(i);
      for (let at = heap.length - 1; at > 0; ) {
        const parent = (at - 1) >> 1;
        if (!worse(heap[at], heap[parent])) break;
        [heap[at], heap[parent]] = [heap[parent], heap[at]];
        at = parent;
      }
    } else if (worse(heap[0], i)) {
      heap[0] = i;
      siftDown(0);
    }
  }
  return heap.sort((a, b) => (worse(a, b) ? 1 : worse(b, a) ? -1 : 0));
}
