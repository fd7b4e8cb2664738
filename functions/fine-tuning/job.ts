/**
 * One hosted fine-tuning job: a Durable Object that advances the job in bounded chunks from its
 * alarm. Each chunk rebuilds or reuses the run, trains for at most CHUNK_MS, checkpoints to S3
 * (sealed), records progress and events, and sets the next alarm. Any process can die at any
 * moment: the alarm fires again (the runtime retries it) and the run continues from the last
 * checkpoint, with the same result as if nothing had happened.
 */
import type { FineTuningJob, JobEvent } from '../../shared/api/fine-tuning';
import { buildDeps, type Deps } from '../deps';
import type { Env } from '../env';
import { randomId } from '../crypto';
import { buildRun, publish, saveCheckpoint, type JobRun } from './run';
import type { DurableObjectStateLike } from './runtime';

const CHUNK_MS = 4000;
const MAX_ATTEMPTS = 6;
const MAX_EVENTS = 1000;
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);

export interface Stored {
  tenant: string;
  job: FineTuningJob;
  /** The adapter name the result is registered under (the job's fine_tuned_model once done). */
  adapterName: string;
  attempts: number;
}

export class FineTuningJobObject {
  private run?: { jobId: string; run: JobRun };

  constructor(
    private readonly state: DurableObjectStateLike,
    private readonly env: Env,
  ) {}

  private deps(): Deps {
    return buildDeps(this.env);
  }

  private async event(message: string, level: JobEvent['level'] = 'info', data?: Record<string, number>): Promise<void> {
    const events = (await this.state.storage.get<JobEvent[]>('events')) ?? [];
    events.push({ id: `ftevent-${randomId(16)}`, object: 'fine_tuning.job.event', created_at: Math.floor(Date.now() / 1000), level, message, type: data ? 'metrics' : 'message', ...(data ? { data } : {}) });
    await this.state.storage.put('events', events.slice(-MAX_EVENTS));
  }

  private async save(stored: Stored): Promise<void> {
    await this.state.storage.put('stored', stored);
  }

  async fetch(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    const stored = await this.state.storage.get<Stored>('stored');
    if (path === '/create' && request.method === 'POST') {
      if (stored) return Response.json(stored.job);
      const created = (await request.json()) as Stored;
      await this.save(created);
      await this.event(`Created fine-tuning job: ${created.job.id}`);
      await this.state.storage.setAlarm(Date.now());
      return Response.json(created.job);
    }
    if (!stored) return Response.json({ error: 'no such job' }, { status: 404 });
    if (path === '/job') return Response.json(stored.job);
    if (path === '/events') return Response.json(((await this.state.storage.get<JobEvent[]>('events')) ?? []).slice().reverse());
    if (path === '/cancel' && request.method === 'POST') {
      if (!TERMINAL.has(stored.job.status)) {
        stored.job = { ...stored.job, status: 'cancelled', finished_at: Math.floor(Date.now() / 1000) };
        await this.save(stored);
        await this.state.storage.deleteAlarm();
        await this.event('Fine-tuning job cancelled');
      }
      return Response.json(stored.job);
    }
    return Response.json({ error: `no route ${path}` }, { status: 404 });
  }

  async alarm(): Promise<void> {
    let stored = await this.state.storage.get<Stored>('stored');
    if (!stored || TERMINAL.has(stored.job.status)) return;
    const deps = this.deps();
    const { tenant } = stored;
    try {
      if (this.run?.jobId !== stored.job.id) this.run = { jobId: stored.job.id, run: await buildRun(deps, tenant, stored.job) };
      const { run } = this.run;
      if (stored.job.status !== 'running') {
        stored.job = { ...stored.job, status: 'running' };
        await this.save(stored);
        await this.event(`Fine-tuning job started at step ${run.trainer.step}`);
      }
      const deadline = Date.now() + CHUNK_MS;
      let tokens = 0;
      while (run.trainer.step < stored.job.total_steps && Date.now() < deadline) {
        const r = await run.trainer.trainStep();
        tokens += r.tokens;
        await this.event(`Step ${r.step}/${stored.job.total_steps}: training loss=${r.loss.toFixed(4)}`, 'info', { step: r.step, train_loss: r.loss, learning_rate: r.lr });
        if ((await this.state.storage.get<Stored>('stored'))?.job.status === 'cancelled') {
          this.run = undefined;
          return;
        }
      }
      await saveCheckpoint(deps, tenant, stored.job.id, run);
      stored = (await this.state.storage.get<Stored>('stored'))!;
      if (stored.job.status === 'cancelled') return;
      stored.job = { ...stored.job, completed_steps: run.trainer.step, trained_tokens: (stored.job.trained_tokens ?? 0) + tokens };
      stored.attempts = 0;
      if (run.trainer.step < stored.job.total_steps) {
        await this.save(stored);
        await this.state.storage.setAlarm(Date.now());
        return;
      }
      if (run.val.length) await this.event(`Validation loss=${(await run.trainer.validate(run.val)).toFixed(4)}`);
      const name = stored.adapterName;
      await publish(deps, tenant, name, run);
      stored.job = { ...stored.job, status: 'succeeded', fine_tuned_model: name, finished_at: Math.floor(Date.now() / 1000) };
      await this.save(stored);
      await this.event(`The job has successfully completed; adapter "${name}" is ready`);
      this.run = undefined;
    } catch (e) {
      this.run = undefined;
      stored.attempts++;
      const message = (e as Error).message;
      if (stored.attempts >= MAX_ATTEMPTS) {
        stored.job = { ...stored.job, status: 'failed', finished_at: Math.floor(Date.now() / 1000), error: { code: 'training_failed', message, param: null } };
        await this.save(stored);
        await this.event(`Fine-tuning job failed: ${message}`, 'error');
        return;
      }
      await this.save(stored);
      await this.event(`Attempt ${stored.attempts} failed, retrying from the last checkpoint: ${message}`, 'warn');
      await this.state.storage.setAlarm(Date.now() + 1000 * 2 ** stored.attempts);
    }
  }
}
