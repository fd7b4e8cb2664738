/**
 * The cross-session scheduler. Sessions call `linear` as they reach a frozen weight group; the
 * calls of one event-loop turn that target the same (layer, group, direction) are stacked into
 * one batched op. Sessions run between awaits synchronously, so by the time the flush (queued
 * with setImmediate) runs, every session that could reach a given op this turn has reached it.
 * Each flush serves every waiting request, oldest first, up to maxRows per op; what is left runs
 * in the next flush — nothing waits behind later arrivals, so no session starves. Rows of
 * different sessions share the op, never a result: each caller gets back exactly its own rows,
 * in its own scope (../backend/activations.ts) — on the host a view of the op's fresh output (a
 * per-caller copy was a second allocation of every output, 4 MB per decode step of 32 sessions at
 * a 32k vocabulary, and the garbage collector's work), on a device a copy recorded with the op.
 *
 * Attention is per session (its own K/V cache), but a backend that can run several sessions'
 * attention (or its backward) in one op (Backend.attentionBatch, attentionBackwardBatch: one
 * submit on a GPU instead of one per session) gets the calls of one turn together too; without
 * it each call goes straight to the backend. Each call is checked alone before it joins, so a bad
 * one fails by itself and never takes its batch-mates with it.
 */
import type { ActivationAttentionBackwardCall, ActivationAttentionCall, ActivationBackend, ActivationScope } from '../backend/activations';
import type { WeightGroup } from '../backend/types';
import { groupShape } from '../backend/groups';
import type { ModelConfig } from '../../shared/model/types';

type Direction = 'forward' | 'backward';

/** A per-session op waiting for its batch; its result goes into the session's scope. */
interface Gathered<C, R> {
  call: C;
  rows: number;
  scope: ActivationScope<unknown>;
  resolve: (result: R) => void;
  reject: (e: unknown) => void;
}

interface Request<T> {
  x: T;
  rows: number;
  scope: ActivationScope<T>;
  resolve: (y: T) => void;
  reject: (e: unknown) => void;
}

/** One batched op as it ran: a weight group's GEMM, or several sessions' attention. */
export type BatchEvent =
  | { op: 'linear'; layer: number; group: WeightGroup; direction: Direction; rows: number; requests: number }
  | { op: 'attention'; direction: Direction; rows: number; requests: number };

export interface BatchObserver {
  (event: BatchEvent): void;
}

interface Queue<T> {
  layer: number;
  group: WeightGroup;
  direction: Direction;
  requests: Request<T>[];
  /** Times another op ran first while this one waited. */
  skipped: number;
}

/** An op passed over this many times runs next (no session waits forever behind others). */
const MAX_SKIPS = 8;
const GROUP_ORDER: Record<WeightGroup, number> = { qkv: 0, o: 1, gateup: 2, down: 3, lmHead: 4 };

/** How far along a step an op is: forward by layer then group (lmHead last), backward from the top down, after every forward. */
function position(q: Pick<Queue<unknown>, 'layer' | 'group' | 'direction'>): number {
  const along = (q.group === 'lmHead' ? 1e6 : q.layer) * 5 + GROUP_ORDER[q.group];
  return q.direction === 'forward' ? along : 2e7 - along;
}

type Gradients<T> = { dq: T; dk: T; dv: T };

export class Batcher<T> {
  private readonly queues = new Map<string, Queue<T>>();
  private readonly attentionQueue: Gathered<ActivationAttentionCall<T>, T>[] = [];
  private readonly attentionBackwardQueue: Gathered<ActivationAttentionBackwardCall<T>, Gradients<T>>[] = [];
  private scheduled = false;

  constructor(
    private readonly backend: ActivationBackend<T>,
    private readonly config: ModelConfig,
    private readonly maxRows: number,
    private readonly observe?: BatchObserver,
  ) {}

  /** y [rows, out] = x [rows, in] · Wᵀ for this group, batched with other sessions; y in the caller's scope. */
  linear(layer: number, group: WeightGroup, x: T, rows: number, scope: ActivationScope<T>): Promise<T> {
    return this.enqueue(layer, group, 'forward', x, rows, scope);
  }

  /** dx [rows, in] = dy [rows, out] · W, batched with other sessions. */
  linearBackward(layer: number, group: WeightGroup, dy: T, rows: number, scope: ActivationScope<T>): Promise<T> {
    return this.enqueue(layer, group, 'backward', dy, rows, scope);
  }

  /** A session's attention (Backend.attention), batched with other sessions' where the backend can. */
  async attention(call: ActivationAttentionCall<T>, scope: ActivationScope<T>): Promise<T> {
    if (!this.backend.attentionBatch) return scope.adopt(await this.backend.attention(call));
    return this.gather(this.attentionQueue, call, scope);
  }

  /** Its backward (Backend.attentionBackward), batched likewise. */
  async attentionBackward(call: ActivationAttentionBackwardCall<T>, scope: ActivationScope<T>): Promise<Gradients<T>> {
    if (!this.backend.attentionBackwardBatch) return adoptGradients(scope, await this.backend.attentionBackward(call));
    return this.gather(this.attentionBackwardQueue, call, scope);
  }

  private gather<C extends ActivationAttentionCall<T> & { dOut?: T }, R>(queue: Gathered<C, R>[], call: C, scope: ActivationScope<T>): Promise<R> {
    try {
      this.backend.checkAttention(call);
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise((resolve, reject) => {
      queue.push({ call, rows: call.shape.rows, scope: scope as ActivationScope<unknown>, resolve, reject });
      this.schedule();
    });
  }

  private enqueue(layer: number, group: WeightGroup, direction: Direction, x: T, rows: number, scope: ActivationScope<T>): Promise<T> {
    return new Promise((resolve, reject) => {
      const key = `${direction}:${layer}:${group}`;
      let queue = this.queues.get(key);
      if (!queue) this.queues.set(key, (queue = { layer, group, direction, requests: [], skipped: 0 }));
      queue.requests.push({ x, rows, scope, resolve, reject });
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
      await this.runGathered('forward', attention, (calls) => this.backend.attentionBatch!(calls), (scope, out) => scope.adopt(out));
      await this.runGathered('backward', attentionBackward, (calls) => this.backend.attentionBackwardBatch!(calls), adoptGradients);
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
  private nextQueue(): [string, Queue<T>] | undefined {
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

  /** Runs gathered calls in batches of up to maxRows rows (a larger call alone); each result goes to its caller's scope. */
  private async runGathered<C, R>(direction: Direction, pending: Gathered<C, R>[], run: (calls: C[]) => Promise<R[]>, adopt: (scope: ActivationScope<T>, r: R) => R): Promise<void> {
    for (const { items: batch, rows } of this.byRows(pending)) {
      try {
        const results = await run(batch.map((g) => g.call));
        this.observe?.({ op: 'attention', direction, rows, requests: batch.length });
        batch.forEach((g, i) => g.resolve(adopt(g.scope as ActivationScope<T>, results[i])));
      } catch (e) {
        for (const g of batch) g.reject(e);
      }
    }
  }

  /** One batched GEMM: the callers' rows stacked, each caller's rows of the output into its scope. */
  private async run(layer: number, group: WeightGroup, direction: Direction, batch: Request<T>[], rows: number): Promise<void> {
    const stacked = batch.length > 1;
    const x = stacked ? this.backend.stackRows(batch.map((r) => r.x)) : batch[0].x;
    try {
      const y = direction === 'forward' ? await this.backend.linear(layer, group, x, rows) : await this.backend.linearBackward(layer, group, x, rows);
      this.observe?.({ op: 'linear', layer, group, direction, rows, requests: batch.length });
      if (!stacked) return batch[0].resolve(batch[0].scope.adopt(y));
      const { inDim, outDim } = groupShape(this.config, group);
      const outWidth = direction === 'forward' ? outDim : inDim;
      let row = 0;
      for (const r of batch) {
        r.resolve(r.scope.slice(y, row * outWidth, (row + r.rows) * outWidth));
        row += r.rows;
      }
      this.backend.retire(y);
    } catch (e) {
      for (const r of batch) r.reject(e);
    } finally {
      if (stacked) this.backend.retire(x);
    }
  }
}

function adoptGradients<T>(scope: ActivationScope<T>, g: Gradients<T>): Gradients<T> {
  return { dq: scope.adopt(g.dq), dk: scope.adopt(g.dk), dv: scope.adopt(g.dv) };
}
