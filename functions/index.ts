/**
 * The edge: stateless Hono functions on Cloudflare Workers. Features live one folder each;
 * this file only mounts them. /admin takes the admin token, everything under /v1 a tenant's key.
 */
import { Hono } from 'hono';
import { adapters } from './adapters';
import { requireTenant } from './auth';
import { withDeps, type EdgeEnv } from './deps';
import { onError } from './errors';
import { health } from './health';
import { inference } from './inference';
import { sessions } from './sessions';
import { files } from './files';
import { fineTuning } from './fine-tuning';
import { tenants } from './tenants';

export const app = new Hono<EdgeEnv>();
app.onError(onError);
app.notFound((c) => c.json({ error: { message: `no route ${c.req.method} ${c.req.path}`, type: 'not_found_error', code: 'no_route', param: null } }, 404));
app.route('/', health);
app.use('/admin/*', withDeps);
app.use('/v1/*', withDeps, requireTenant);
app.route('/admin', tenants);
app.route('/v1/adapters', adapters);
app.route('/v1/sessions', sessions);
app.route('/v1/files', files);
app.route('/v1/fine_tuning', fineTuning);
app.route('/v1', inference);

export { FineTuningJobObject as FineTuningJob } from './fine-tuning/job';
export { TenantRateLimitObject as TenantRateLimit } from './auth/limiter-object';
export default app;
