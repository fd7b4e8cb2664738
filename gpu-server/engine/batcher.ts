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
 * Attention is per session (its own K/V cache) and goes straight to the backend: there is no
 * weight to share, and a device backend records every session's call into the same pending
 * encoder anyway (../backend/webgpu/activations.ts), so they run in one submit without waiting.
 */
import type { ActivationAttentionBackwardCall, ActivationAttentionCall, ActivationBackend, ActivationScope } from '../backend/activations';
import type { WeightGroup } from '../backend/types';
import { groupShape } from '../backend/groups';
import type { ModelConfig } from '../../shared/model/types';

type Direction = 'forward' | 'backward';

interface Request<T> {
  x: T;
  rows: number;
  scope: ActivationScope<T>;
  resolve: (y: T) => void;
  reject: (e: unknown) => void;
}

/** One batched op as it ran: a weight group's GEMM over the rows of `requests` sessions. */
export interface BatchEvent {
  layer: number;
  group: WeightGroup;
  direction: Direction;
  rows: number;
  requests: number;
}

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

export class Batcher<T> {
  private readonly queues = new Map<string, Queue<T>>();
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

  /** A session's attention (Backend.attention), at once; the output in the caller's scope. */
  async attention(call: ActivationAttentionCall<T>, scope: ActivationScope<T>): Promise<T> {
    return scope.adopt(await this.backend.attention(call));
  }

  /** Its backward (Backend.attentionBackward). */
  async attentionBackward(call: ActivationAttentionBackwardCall<T>, scope: ActivationScope<T>): Promise<{ dq: T; dk: T; dv: T }> {
    const { dq, dk, dv } = await this.backend.attentionBackward(call);
    return { dq: scope.adopt(dq), dk: scope.adopt(dk), dv: scope.adopt(dv) };
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
      const next = this.nextQueue();
      if (!next) break;
      const [key, queue] = next;
      this.queues.delete(key);
      for (const batch of this.byRows(queue.requests)) await this.run(queue.layer, queue.group, queue.direction, batch.items, batch.rows);
      await new Promise<void>((resume) => setImmediate(resume));
    }
    this.scheduled = false;
    // Every session now waits on something other than an op (a tap, a read, its next message):
    // a device that records ops starts them, so that they run meanwhile.
    this.backend.submit?.();
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

  /** Consecutive runs of requests, each up to maxRows rows (a request larger than that alone), oldest first. */
  private byRows(items: Request<T>[]): { items: Request<T>[]; rows: number }[] {
    const runs: { items: Request<T>[]; rows: number }[] = [];
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

  /** One batched GEMM: the callers' rows stacked, each caller's rows of the output into its scope. */
  private async run(layer: number, group: WeightGroup, direction: Direction, batch: Request<T>[], rows: number): Promise<void> {
    const stacked = batch.length > 1;
    const x = stacked ? this.backend.stackRows(batch.map((r) => r.x)) : batch[0].x;
    try {
      const y = direction === 'forward' ? await this.backend.linear(layer, group, x, rows) : await this.backend.linearBackward(layer, group, x, rows);
      this.observe?.({ layer, group, direction, rows, requests: batch.length });
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
