/**
 * /v1/fine_tuning/jobs, OpenAI-compatible: create, list, retrieve, events, cancel. Each job is
 * a Durable Object (job.ts) named by tenant and job id, so a tenant can only ever reach its
 * own jobs; a sealed marker per job in S3 lets the list enumerate them.
 */
import { Hono, type Context } from 'hono';
import { CreateJobSchema, type FineTuningJob, type JobEvent } from '../../shared/api/fine-tuning';
import { randomId } from '../crypto';
import type { EdgeEnv } from '../deps';
import { badRequest, invalidBody, notFound, readJson } from '../errors';
import type { Stored } from './job';
import { plannedSteps } from './run';

type Ctx = Context<EdgeEnv>;

function stub(c: Ctx, jobId: string) {
  const ns = c.env.FINE_TUNING_JOBS;
  return ns.get(ns.idFromName(`${c.var.tenant.id}/${jobId}`));
}

async function call<T>(c: Ctx, jobId: string, path: string, init?: RequestInit): Promise<T> {
  if (!/^ftjob-[a-z0-9]{20}$/.test(jobId)) throw notFound(`no fine-tuning job "${jobId}"`);
  const res = await stub(c, jobId).fetch(`https://job${path}`, init);
  if (res.status === 404) throw notFound(`no fine-tuning job "${jobId}"`);
  return (await res.json()) as T;
}

export const fineTuning = new Hono<EdgeEnv>()
  .post('/jobs', async (c) => {
    const parsed = CreateJobSchema.safeParse(await readJson(c.req.raw));
    if (!parsed.success) throw invalidBody(parsed.error);
    const body = parsed.data;
    const { deps, tenant } = c.var;
    const base = await deps.base.info();
    if (body.model !== base.name) throw badRequest(`model must be the served base model "${base.name}"`, 'invalid_field', 'model');
    if (body.hyperparameters && body.method?.supervised?.hyperparameters) throw badRequest('give hyperparameters or method.supervised.hyperparameters, not both', 'invalid_field', 'hyperparameters');
    await deps.files.meta(tenant.id, body.training_file);
    if (body.validation_file) await deps.files.meta(tenant.id, body.validation_file);
    const hp = body.hyperparameters ?? body.method?.supervised?.hyperparameters ?? {};
    const pick = (v: number | 'auto' | undefined, auto: number) => (v === undefined || v === 'auto' ? auto : v);
    const id = `ftjob-${randomId(20)}`;
    const hyperparameters = { n_epochs: pick(hp.n_epochs, 3), batch_size: pick(hp.batch_size, 1), learning_rate_multiplier: pick(hp.learning_rate_multiplier, 1) };
    const job: FineTuningJob = {
      id,
      object: 'fine_tuning.job',
      created_at: Math.floor(Date.now() / 1000),
      finished_at: null,
      model: body.model,
      fine_tuned_model: null,
      organization_id: tenant.id,
      status: 'queued',
      training_file: body.training_file,
      validation_file: body.validation_file ?? null,
      hyperparameters,
      trained_tokens: 0,
      error: null,
      seed: body.seed ?? Math.floor(Math.random() * 2 ** 31),
      result_files: [],
      estimated_finish: null,
      integrations: [],
      metadata: null,
      adapter: body.adapter ?? { type: 'lora', rank: 8, virtual_tokens: 8 },
      total_steps: await plannedSteps(deps, tenant.id, { training_file: body.training_file, hyperparameters }),
      completed_steps: 0,
    };
    const stored: Stored = { tenant: tenant.id, job, adapterName: `ft-${body.suffix ?? body.model.toLowerCase().replace(/[^a-z0-9-]/g, '-')}-${id.slice(6, 14)}`, attempts: 0 };
    await deps.store.putJson(tenant.id, `jobs/${tenant.id}/${id}`, { id, created_at: job.created_at });
    return c.json(await call<FineTuningJob>(c, id, '/create', { method: 'POST', body: JSON.stringify(stored) }), 200);
  })
  .get('/jobs', async (c) => {
    const ids = (await c.var.deps.store.objects.list(`jobs/${c.var.tenant.id}/`)).map((k) => k.split('/').pop()!);
    const jobs = await Promise.all(ids.map((id) => call<FineTuningJob>(c, id, '/job')));
    return c.json({ object: 'list', data: jobs.sort((a, b) => b.created_at - a.created_at), has_more: false });
  })
  .get('/jobs/:id', async (c) => c.json(await call<FineTuningJob>(c, c.req.param('id'), '/job')))
  .get('/jobs/:id/events', async (c) => {
    const events = await call<JobEvent[]>(c, c.req.param('id'), '/events');
    const limit = Math.min(Math.max(Number(c.req.query('limit') ?? 20) || 20, 1), 1000);
    return c.json({ object: 'list', data: events.slice(0, limit), has_more: events.length > limit });
  })
  .post('/jobs/:id/cancel', async (c) => c.json(await call<FineTuningJob>(c, c.req.param('id'), '/cancel', { method: 'POST' })));
