/** POST /v1/sessions: a session token for the tenant's own split client (see shared/api/sessions.ts). */
import { Hono } from 'hono';
import { SessionRequestSchema, type SessionGrant } from '../../shared/api/sessions';
import type { EdgeEnv } from '../deps';
import { readJson, invalidBody } from '../errors';

export const sessions = new Hono<EdgeEnv>().post('/', async (c) => {
  const body = SessionRequestSchema.safeParse(await readJson(c.req.raw));
  if (!body.success) throw invalidBody(body.error);
  const { base } = c.var.deps;
  const grant = await base.grant(c.var.tenant.id);
  const answer: SessionGrant = { url: grant.url, token: grant.token, expires_at: grant.expiresAt, model: (await base.info()).name };
  return c.json(answer, 201);
});
