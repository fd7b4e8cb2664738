/**
 * Hosted fine-tuning through the edge, end to end: files and jobs through the official openai
 * client, each job a Durable Object advancing in chunks from its alarm, checkpointed (sealed) in
 * S3. A job survives a restart of the edge mid-run, ends with the identical adapter, and its
 * result is servable by name at once.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEdgeFixture, type EdgeFixture } from './stack';

const DATA = resolve(import.meta.dirname, '../fixtures/zara.jsonl');
const PROMPT = 'Once upon a time, there was a little girl named';
const ADAPTER = { type: 'lora', rank: 8, target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] };

describe('hosted fine-tuning jobs (Durable Objects with alarms)', () => {
  let fx: EdgeFixture;
  let apiKey: string;
  let client: OpenAI;
  let fileId: string;

  const createJob = async (body: object) => {
    const res = await fx.call(apiKey, '/v1/fine_tuning/jobs', { body: { model: 'stories260K', training_file: fileId, ...body } });
    expect(res.status, await res.clone().text()).toBe(200);
    return (await res.json()) as { id: string; total_steps: number };
  };

  const waitFor = async (id: string, done: (job: OpenAI.FineTuning.FineTuningJob) => boolean, timeoutMs = 120_000) => {
    const start = Date.now();
    for (;;) {
      const job = await client.fineTuning.jobs.retrieve(id);
      if (done(job)) return job;
      if (Date.now() - start > timeoutMs) throw new Error(`job ${id} stuck: ${JSON.stringify(job)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };

  beforeAll(async () => {
    fx = await startEdgeFixture();
    ({ apiKey } = await fx.createTenant('jobs'));
    client = new OpenAI({ baseURL: `${fx.url}/v1`, apiKey, maxRetries: 0 });
    const file = await client.files.create({ file: await toFile(await readFile(DATA), 'zara.jsonl'), purpose: 'fine-tune' });
    expect(file).toMatchObject({ object: 'file', purpose: 'fine-tune', filename: 'zara.jsonl' });
    fileId = file.id;
  }, 60_000);

  afterAll(async () => {
    await fx?.stop();
  });

  it('rejects bad data and bad jobs by name', async () => {
    await expect(client.files.create({ file: await toFile(Buffer.from('{"text": "ok"}\n{"prompt": 1}\n'), 'bad.jsonl'), purpose: 'fine-tune' })).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/line 2/) });
    const bad = await fx.call(apiKey, '/v1/fine_tuning/jobs', { body: { model: 'stories260K', training_file: fileId, learning_rate: 1 } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/unsupported field "learning_rate"/);
    const missing = await fx.call(apiKey, '/v1/fine_tuning/jobs', { body: { model: 'stories260K', training_file: 'file-aaaaaaaaaaaaaaaaaaaa' } });
    expect(missing.status).toBe(404);
  });

  it('trains to completion across a restart of the edge, and serves the result by name', async () => {
    const job = await createJob({ hyperparameters: { n_epochs: 8, learning_rate_multiplier: 10 }, seed: 3, suffix: 'zara', adapter: ADAPTER });
    // Let it run a while, then take the whole edge down and bring it back on the same state.
    await waitFor(job.id, (j) => ((j as unknown as { completed_steps: number }).completed_steps ?? 0) > 0);
    await fx.stack.restartEdge();
    const done = await waitFor(job.id, (j) => ['succeeded', 'failed', 'cancelled'].includes(j.status));
    expect(done.status).toBe('succeeded');
    expect(done.fine_tuned_model).toMatch(/^ft-zara-/);
    const events = await client.fineTuning.jobs.listEvents(job.id, { limit: 100 });
    expect(events.data.some((e) => /Step \d+\/\d+: training loss=/.test(e.message))).toBe(true);
    expect(events.data[0].message).toMatch(/successfully completed/);

    const completion = await client.completions.create({ model: done.fine_tuned_model!, prompt: PROMPT, max_tokens: 8, temperature: 0 });
    expect(completion.choices[0].text).toMatch(/^ Zara\b/);
    expect((await client.models.list()).data.map((m) => m.id)).toContain(done.fine_tuned_model);

    // The same job, never interrupted, ends with the byte-identical adapter.
    const again = await createJob({ hyperparameters: { n_epochs: 8, learning_rate_multiplier: 10 }, seed: 3, suffix: 'again', adapter: ADAPTER });
    const second = await waitFor(again.id, (j) => ['succeeded', 'failed', 'cancelled'].includes(j.status));
    const weights = async (name: string) => {
      const form = await (await fx.call(apiKey, `/v1/adapters/${name}/download`)).formData();
      return new Uint8Array(await (form.get('adapter_model.safetensors') as File).arrayBuffer());
    };
    expect(await weights(second.fine_tuned_model!)).toEqual(await weights(done.fine_tuned_model!));
  }, 240_000);

  it('cancels a running job, and other tenants cannot see it', async () => {
    const job = await createJob({ hyperparameters: { n_epochs: 50 }, seed: 1 });
    const cancelled = await client.fineTuning.jobs.cancel(job.id);
    expect(cancelled.status).toBe('cancelled');
    expect((await client.fineTuning.jobs.list()).data.map((j) => j.id)).toContain(job.id);
    const other = await fx.createTenant('other');
    const res = await fx.call(other.apiKey, `/v1/fine_tuning/jobs/${job.id}`);
    expect(res.status).toBe(404);
    expect((await fx.call(other.apiKey, `/v1/fine_tuning/jobs/${job.id}/cancel`, { method: 'POST' })).status).toBe(404);
    expect(((await (await fx.call(other.apiKey, '/v1/fine_tuning/jobs')).json()) as { data: unknown[] }).data).toEqual([]);
  });
});
