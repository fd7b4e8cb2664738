import { Hono } from 'hono';

/** Liveness of the edge itself (no dependencies checked). */
export const health = new Hono().get('/healthz', (c) => c.json({ ok: true }));
