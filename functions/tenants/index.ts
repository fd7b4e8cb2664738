/** The admin API: create, list, disable and enable tenants; issue and revoke their API keys. */
import { Hono } from 'hono';
import { CreateTenantSchema } from '../../shared/api/admin';
import { requireAdmin } from '../auth';
import type { EdgeEnv } from '../deps';
import { invalidBody, readJson } from '../errors';

export const tenants = new Hono<EdgeEnv>()
  .use('*', requireAdmin)
  .post('/tenants', async (c) => {
    const body = CreateTenantSchema.safeParse(await readJson(c.req.raw));
    if (!body.success) throw invalidBody(body.error);
    return c.json(await c.var.deps.tenants.create(body.data), 201);
  })
  .get('/tenants', async (c) => c.json({ data: await c.var.deps.tenants.list() }))
  .get('/tenants/:id', async (c) => c.json(await c.var.deps.tenants.get(c.req.param('id'))))
  .post('/tenants/:id/disable', async (c) => c.json(await c.var.deps.tenants.setDisabled(c.req.param('id'), true)))
  .post('/tenants/:id/enable', async (c) => c.json(await c.var.deps.tenants.setDisabled(c.req.param('id'), false)))
  .post('/tenants/:id/keys', async (c) => c.json(await c.var.deps.tenants.issueKey(c.req.param('id')), 201))
  .delete('/tenants/:id/keys/:keyId', async (c) => c.json(await c.var.deps.tenants.revokeKey(c.req.param('id'), c.req.param('keyId'))));
