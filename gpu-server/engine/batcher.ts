/**
 * The cross-session scheduler. Sessions call `linear` as they reach a frozen weight group; the
 * calls of one event-loop turn that target the same (layer, group, direction) are stacked into
 * one batched op. Sessions run between awaits synchronously, so by the time the flush (queued
 * with setImmediate) runs, every session that could reach a given op this turn has reached it.
 * Each flush serves every waiting request, oldest first, up to maxRows per op; what is left runs
 * in the next flush — nothing waits behind later arrivals, so no session starves. Rows of
 * different sessions share the op, never a result: each caller gets back exactly its own rows,
 * as a view of the op's fresh output (a per-caller copy was a second allocation of every output,
 * 4 MB per decode step of 32 sessions at a 32k vocabulary, and the garbage collector's work).
 *
 * Attention is per session (its own K/V cache), but a backend that can run several sessions'
 * attention (or its backward) in one op (Backend.attentionBatch, attentionBackwardBatch: one
 * submit on a GPU instead of one per session) gets the calls of one turn together too; without
 * it each call goes straight to the backend. Each call is checked alone before it joins, so a bad
 * one fails by itself and never takes its batch-mates with it.
 */
import { checkAttention } from '../../shared/reference/ops';
import type { AttentionBackwardCall, AttentionCall, AttentionGradients, Backend, WeightGroup } from '../backend/types';

type Direction = 'forward' | 'backward';

/** A per-session op waiting for its batch. */
interface Gathered<C, R> {
  call: C;
  rows: number;
  resolve: (result: R) => void;
  reject: (e: unknown) => void;
}

interface Request {
  x: Float32Array;
  rows: number;
  resolve: (y: Float32Array) => void;
  reject: (e: unknown) => void;
}

/** One batched op as it ran: a weight group's GEMM, or several sessions' attention. */
export type BatchEvent =
  | { op: 'linear'; layer: number; group: WeightGroup; direction: Direction; rows: number; requests: number }
  | { op: 'attention'; direction: Direction; rows: number; requests: number };

export interface BatchObserver {
  (event: BatchEvent): void;
}

interface Queue {
  layer: number;
  group: WeightGroup;
  direction: Direction;
  requests: Request[];
  /** Times another op ran first while this one waited. */
  skipped: number;
}

/** An op passed over this many times runs next (no session waits forever behind others). */
const MAX_SKIPS = 8;
const GROUP_ORDER: Record<WeightGroup, number> = { qkv: 0, o: 1, gateup: 2, down: 3, lmHead: 4 };

/** How far along a step an op is: forward by layer then group (lmHead last), backward from the top down, after every forward. */
function position(q: Queue): number {
  const along = (q.group === 'lmHead' ? 1e6 : q.layer) * 5 + GROUP_ORDER[q.group];
  return q.direction === 'forward' ? along : 2e7 - along;
}

export class Batcher {
  private readonly queues = new Map<string, Queue>();
  private readonly attentionQueue: Gathered<AttentionCall, Float32Array>[] = [];
  private readonly attentionBackwardQueue: Gathered<AttentionBackwardCall, AttentionGradients>[] = [];
  private scheduled = false;

  constructor(
    private readonly backend: Backend,
    private readonly maxRows: number,
    private readonly observe?: BatchObserver,
  ) {}

  /** y [rows, out] = x [rows, in] · Wᵀ for this group, batched with other sessions. */
  linear(layer: number, group: WeightGroup, x: Float32Array, rows: number): Promise<Float32Array> {
    return this.enqueue(layer, group, 'forward', x, rows);
  }

  /** dx [rows, in] = dy [rows, out] · W, batched with other sessions. */
  linearBackward(layer: number, group: WeightGroup, dy: Float32Array, rows: number): Promise<Float32Array> {
    return this.enqueue(layer, group, 'backward', dy, rows);
  }

  /** A session's attention (Backend.attention), batched with other sessions' where the backend can. */
  attention(call: AttentionCall): Promise<Float32Array> {
    const { q, k, v, shape } = call;
    if (!this.backend.attentionBatch) return this.backend.attention(q, k, v, shape);
    return this.gather(this.attentionQueue, call, () => checkAttention(q, k, v, shape));
  }

  /** Its backward (Backend.attentionBackward), batched likewise. */
  attentionBackward(call: AttentionBackwardCall): Promise<AttentionGradients> {
    const { dOut, q, k, v, shape } = call;
    if (!this.backend.attentionBackwardBatch) return this.backend.attentionBackward(dOut, q, k, v, shape);
    return this.gather(this.attentionBackwardQueue, call, () => checkAttention(q, k, v, shape, dOut));
  }

  private gather<C extends AttentionCall, R>(queue: Gathered<C, R>[], call: C, check: () => void): Promise<R> {
    try {
      check();
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise((resolve, reject) => {
      queue.push({ call, rows: call.shape.rows, resolve, reject });
      this.schedule();
    });
  }

  private enqueue(layer: number, group: WeightGroup, direction: Direction, x: Float32Array, rows: number): Promise<Float32Array> {
    return new Promise((resolve, reject) => {
      const key = `${direction}:${layer}:${group}`;
      let queue = this.queues.get(key);
      if (!queue) this.queues.set(key, (queue = { layer, group, direction, requests: [], skipped: 0 }));
      queue.requests.push({ x, rows, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => void this.flush());
    }
  }

  /**
   * Runs what waits, one op at a time, until nothing does. Between ops it yields a turn, so the
   * sessions an op resumed reach their next op first; and it runs the least advanced op first, so
   * sessions that fell behind (their step began a socket message later, or waited on a tap) catch
   * up with those ahead at an op neither has run yet, instead of the two groups running every op
   * of the step separately. An op passed over MAX_SKIPS times runs next whatever its place.
   */
  private async flush(): Promise<void> {
    for (;;) {
      const attention = this.attentionQueue.splice(0);
      const attentionBackward = this.attentionBackwardQueue.splice(0);
      await this.runGathered('forward', attention, (calls) => this.backend.attentionBatch!(calls));
      await this.runGathered('backward', attentionBackward, (calls) => this.backend.attentionBackwardBatch!(calls));
      const next = this.nextQueue();
      if (!next) break;
      const [key, queue] = next;
      this.queues.delete(key);
      for (const batch of this.byRows(queue.requests)) await this.run(queue.layer, queue.group, queue.direction, batch.items, batch.rows);
      await new Promise<void>((resume) => setImmediate(resume));
    }
    this.scheduled = false;
  }

  /** The waiting op to run next: the most passed-over one once any reaches MAX_SKIPS, else the least advanced. */
  private nextQueue(): [string, Queue] | undefined {
    const entries = [...this.queues];
    if (entries.length === 0) return undefined;
    const starved = entries.filter(([, q]) => q.skipped >= MAX_SKIPS);
    const pick = starved.length > 0 ? starved.reduce((a, b) => (b[1].skipped > a[1].skipped ? b : a)) : entries.reduce((a, b) => (position(b[1]) < position(a[1]) ? b : a));
    for (const [, q] of entries) if (q !== pick[1]) q.skipped++;
    return pick;
  }

  /** Consecutive runs of items, each up to maxRows rows (an item larger than that alone), oldest first. */
  private byRows<T extends { rows: number }>(items: T[]): { items: T[]; rows: number }[] {
    const runs: { items: T[]; rows: number }[] = [];
    for (const item of items) {
      const last = runs[runs.length - 1];
      if (last && last.rows + item.rows <= this.maxRows) {
        last.items.push(item);
        last.rows += item.rows;
      } else {
        runs.push({ items: [item], rows: item.rows });
      }
    }
    return runs;
  }

  /** Runs gathered calls in batches of up to maxRows rows (a larger call alone). */
  private async runGathered<C, R>(direction: Direction, pending: Gathered<C, R>[], run: (calls: C[]) => Promise<R[]>): Promise<void> {
    for (const { items: batch, rows } of this.byRows(pending)) {
      try {
        const results = await run(batch.map((g) => g.call));
        this.observe?.({ op: 'attention', direction, rows, requests: batch.length });
        batch.forEach((g, i) => g.resolve(results[i]));
      } catch (e) {
        for (const g of batch) g.reject(e);
      }
    }
  }

  private async run(layer: number, group: WeightGroup, direction: Direction, batch: Request[], rows: number): Promise<void> {
    try {
      const inWidth = batch[0].x.length / batch[0].rows;
      const x = batch.length === 1 ? batch[0].x : new Float32Array(rows * inWidth);
      if (batch.length > 1) {
        let offset = 0;
        for (const r of batch) {
          x.set(r.x, offset);
          offset += r.x.length;
        }
      }
      const y = direction === 'forward' ? await this.backend.linear(layer, group, x, rows) : await this.backend.linearBackward(layer, group, x, rows);
      this.observe?.({ op: 'linear', layer, group, direction, rows, requests: batch.length });
      const outWidth = y.length / rows;
      let row = 0;
      for (const r of batch) {
        r.resolve(batch.length === 1 ? y : y.subarray(row * outWidth, (row + r.rows) * outWidth));
        row += r.rows;
      }
    } catch (e) {
      for (const r of batch) r.reject(e);
    }
  }
}
