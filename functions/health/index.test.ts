import { describe, expect, it } from 'vitest';
import { app } from '../index';

describe('GET /healthz', () => {
  it('answers ok', async () => {
    const res = await app.request('/healthz');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
  });

  it('answers 404 elsewhere', async () => {
    expect((await app.request('/nope')).status).toBe(404);
  });
});
