/** Prometheus metrics of the base-model server (prom-client), one registry per server. */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Engine } from '../engine';

export class ServerMetrics {
  readonly registry = new Registry();
  readonly batchRows = new Histogram({ name: 'symbiosis_batch_rows', help: 'Rows per batched op', labelNames: ['group', 'direction'], buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512], registers: [this.registry] });
  readonly batchRequests = new Histogram({ name: 'symbiosis_batch_sessions', help: 'Session requests stacked into one batched op', labelNames: ['group'], buckets: [1, 2, 4, 8, 16, 32, 64], registers: [this.registry] });
  readonly tokens = new Counter({ name: 'symbiosis_tokens_total', help: 'Tokens processed', labelNames: ['mode'], registers: [this.registry] });
  readonly errors = new Counter({ name: 'symbiosis_session_errors_total', help: 'Sessions ended by an error frame', labelNames: ['code'], registers: [this.registry] });

  constructor(engineOf: () => Engine) {
    const registers = [this.registry];
    new Gauge({ name: 'symbiosis_sessions', help: 'Open sessions', labelNames: ['mode'], registers, collect() {
      this.reset();
      for (const s of engineOf().sessions.values()) this.inc({ mode: s.mode });
    } });
    new Gauge({ name: 'symbiosis_queue_depth', help: 'Sessions in the middle of a step', registers, collect() {
      this.set([...engineOf().sessions.values()].filter((s) => s.busy).length);
    } });
    new Gauge({ name: 'symbiosis_kv_cache_bytes', help: 'KV cache bytes held by open sessions', registers, collect() {
      this.set([...engineOf().sessions.values()].reduce((n, s) => n + s.kvBytes, 0));
    } });
    new Gauge({ name: 'symbiosis_activation_bytes', help: 'Training activations held for backward', registers, collect() {
      this.set([...engineOf().sessions.values()].reduce((n, s) => n + s.traceBytes, 0));
    } });
    new Gauge({ name: 'symbiosis_activation_pool_bytes', help: 'Freed activation memory kept for reuse', registers, collect() {
      this.set(engineOf().pooledActivationBytes);
    } });
  }
}
