/**
 * Bearer authentication: the admin token for /admin, a tenant's API key everywhere else under
 * /v1, then the tenant's requests-per-minute quota (429 with Retry-After), counted by the
 * tenant's Durable Object (limiter-object.ts) so that it holds across isolates.
 */
import { createMiddleware } from 'hono/factory';
import { secretsEqual } from '../crypto';
import type { EdgeEnv } from '../deps';
import { ApiError, unavailable } from '../errors';
import { takeRequest } from './limiter-object';

function bearer(header: string | undefined): string {
  const m = /^Bearer (\S+)$/i.exec(header ?? ''); // the scheme is case-insensitive (RFC 7235)
  if (!m) throw new ApiError(401, 'missing "Authorization: Bearer <key>" header', 'missing_api_key');
  return m[1];
}

export const requireAdmin = createMiddleware<EdgeEnv>(async (c, next) => {
  if (!(await secretsEqual(bearer(c.req.header('authorization')), c.var.deps.config.ADMIN_TOKEN))) {
    throw new ApiError(401, 'invalid admin token', 'invalid_admin_token');
  }
  await next();
});

export const requireTenant = createMiddleware<EdgeEnv>(async (c, next) => {
  const tenant = await c.var.deps.tenants.authenticate(bearer(c.req.header('authorization')));
  const wait = await takeRequest(c.env.TENANT_RATE_LIMITS, tenant.id, tenant.quotas.requestsPerMinute).catch(() => {
    throw unavailable('the rate limiter cannot be reached; retry shortly', 1);
  });
  if (wait > 0) throw new ApiError(429, `rate limit of ${tenant.quotas.requestsPerMinute} requests per minute exceeded`, 'rate_limit_exceeded', { retryAfterSeconds: wait / 1000 });
  c.set('tenant', tenant);
  await next();
});
