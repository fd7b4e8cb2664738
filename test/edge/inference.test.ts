/**
 * Inference through the edge, end to end: upload a tenant's adapter, then complete and chat
 * with it through workerd → a real `symbiosis serve` process; the tokens must equal the
 * reference implementation's with the adapter merged into the base (or, for prompt tuning,
 * applied in-process). Also: the official `openai` client, streaming, and failures.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CHAT_TEMPLATE } from '../../shared/api/openai';
import { mergeAdapter, PROMPT_EMBEDDINGS_KEY, writePeftAdapter, type PeftAdapter } from '../../shared/adapters';
import type { Model } from '../../shared/model/types';
import { generate } from '../../shared/reference/generate';
import { StreamDecoder, Tokenizer } from '../../shared/tokenizer';
import { testAdapters } from '../../gpu-server/testing/fixtures';
import { loadTestModel, peftForm, startEdgeFixture, type EdgeFixture } from './stack';

const PROMPT = 'Once upon a time';
const MAX_TOKENS = 24;

describe('inference through the edge (workerd → symbiosis serve, stories260K)', () => {
  let fx: EdgeFixture;
  let model: Model;
  let tokenizer: Tokenizer;
  let adapters: Record<string, PeftAdapter>;
  let apiKey: string;

  /** What the reference generates greedily, as the text the API must return. */
  function expectedText(promptIds: number[], adapter: PeftAdapter | undefined): { text: string; tokens: number } {
    const merged = adapter && adapter.type !== 'PROMPT_TUNING' ? mergeAdapter(model, adapter) : model;
    const { ids } = generate({ model: merged, promptIds, maxTokens: MAX_TOKENS, sampling: { temperature: 0 }, adapter: adapter?.type === 'PROMPT_TUNING' ? adapter : undefined });
    const decoder = new StreamDecoder(tokenizer, promptIds);
    return { text: ids.map((id) => decoder.push(id)).join('') + decoder.flush(), tokens: ids.length };
  }

  beforeAll(async () => {
    fx = await startEdgeFixture();
    const dir = await loadTestModel();
    model = dir.model;
    tokenizer = Tokenizer.fromFiles(dir.tokenizerJson as object, dir.tokenizerConfig as object);
    adapters = testAdapters(model);
    // Strong enough virtual tokens that greedy decoding visibly changes within MAX_TOKENS.
    adapters.prompt.params.get(PROMPT_EMBEDDINGS_KEY)!.forEach((v, i, a) => (a[i] = v * 8));
    adapters.prompt.refresh();
    ({ apiKey } = await fx.createTenant('inference'));
    for (const name of ['lora', 'dora', 'ia3', 'prompt']) {
      const files = writePeftAdapter(adapters[name]);
      const res = await fx.call(apiKey, `/v1/adapters/${name}`, { method: 'PUT', body: peftForm(files.configJson, files.safetensors) });
      expect(res.status, await res.clone().text()).toBe(201);
    }
  }, 120_000);

  afterAll(async () => {
    await fx?.stop();
  });

  it.each(['stories260K', 'lora', 'dora', 'ia3', 'prompt'])('completion with %s gives the reference tokens', async (name) => {
    const res = await fx.call(apiKey, '/v1/completions', { body: { model: name, prompt: PROMPT, max_tokens: MAX_TOKENS, temperature: 0 } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { model: string; choices: { text: string; finish_reason: string }[]; usage: { prompt_tokens: number; completion_tokens: number } };
    const promptIds = tokenizer.encode(PROMPT);
    const expected = expectedText(promptIds, adapters[name]);
    expect(body.model).toBe(name);
    expect(body.choices[0].text).toBe(expected.text);
    expect(body.usage).toMatchObject({ prompt_tokens: promptIds.length, completion_tokens: expected.tokens });
  });

  it('the adapters change the output (so the comparison above is not vacuous)', () => {
    const promptIds = tokenizer.encode(PROMPT);
    const base = expectedText(promptIds, undefined).text;
    for (const name of ['lora', 'dora', 'ia3', 'prompt']) expect(expectedText(promptIds, adapters[name]).text, name).not.toBe(base);
  });

  it('chat completion renders the default template and gives the reference tokens', async () => {
    const messages = [{ role: 'user' as const, content: 'Tell me a story about a cat.' }];
    const res = await fx.call(apiKey, '/v1/chat/completions', { body: { model: 'lora', messages, max_tokens: MAX_TOKENS, temperature: 0 } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { choices: { message: { role: string; content: string } }[] };
    const promptIds = tokenizer.encode(tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true, fallback: DEFAULT_CHAT_TEMPLATE }), { addSpecialTokens: false });
    expect(body.choices[0].message).toEqual({ role: 'assistant', content: expectedText(promptIds, adapters.lora).text });
  });

  it('stop strings cut the text before the stop string', async () => {
    const full = expectedText(tokenizer.encode(PROMPT), adapters.ia3).text;
    const stop = full.slice(10, 13);
    const res = await fx.call(apiKey, '/v1/completions', { body: { model: 'ia3', prompt: PROMPT, max_tokens: MAX_TOKENS, temperature: 0, stop: [stop] } });
    const body = (await res.json()) as { choices: { text: string; finish_reason: string }[] };
    expect(body.choices[0]).toMatchObject({ text: full.slice(0, full.indexOf(stop)), finish_reason: 'stop' });
  });

  it('the official openai client: models, completion, chat, streaming', async () => {
    const client = new OpenAI({ baseURL: `${fx.url}/v1`, apiKey });
    const models = (await client.models.list()).data.map((m) => m.id).sort();
    expect(models).toEqual(['dora', 'ia3', 'lora', 'prompt', 'stories260K']);

    const completion = await client.completions.create({ model: 'dora', prompt: PROMPT, max_tokens: MAX_TOKENS, temperature: 0 });
    expect(completion.choices[0].text).toBe(expectedText(tokenizer.encode(PROMPT), adapters.dora).text);

    const chat = await client.chat.completions.create({ model: 'stories260K', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 8, temperature: 0 });
    expect(chat.choices[0].message.role).toBe('assistant');
    expect(chat.usage?.completion_tokens).toBeGreaterThan(0);

    const stream = await client.chat.completions.create({ model: 'lora', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 8, temperature: 0, stream: true, stream_options: { include_usage: true } });
    let streamed = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      streamed += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    const whole = await client.chat.completions.create({ model: 'lora', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 8, temperature: 0 });
    expect(streamed).toBe(whole.choices[0].message.content);
    expect(finish).toBe(whole.choices[0].finish_reason);
    expect(usage).toEqual(whole.usage);
  });

  it('a seed makes sampling repeatable', async () => {
    const body = { model: 'lora', prompt: PROMPT, max_tokens: 16, temperature: 1, top_p: 0.9, seed: 42 };
    const [a, b] = await Promise.all([fx.call(apiKey, '/v1/completions', { body }), fx.call(apiKey, '/v1/completions', { body })]);
    const text = async (r: Response) => ((await r.json()) as { choices: { text: string }[] }).choices[0].text;
    expect(await text(a)).toBe(await text(b));
  });

  it.each([
    [{ model: 'lora', prompt: PROMPT, logprobs: 2 }, /unsupported field "logprobs"/],
    [{ model: 'lora', prompt: PROMPT, temperature: 5 }, /temperature/],
    [{ model: 'lora', prompt: PROMPT, n: 2 }, /n/],
    [{ model: 'nope', prompt: PROMPT }, /"nope" does not exist/],
    [{ model: 'lora', prompt: PROMPT, max_tokens: 100_000 }, /does not fit/],
    [{ prompt: PROMPT }, /model/],
  ])('bad request %j → 4xx naming the problem', async (body, message) => {
    const res = await fx.call(apiKey, '/v1/completions', { body });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(message);
  });

  it('no key, or a bad one → 401', async () => {
    expect((await fetch(`${fx.url}/v1/models`)).status).toBe(401);
    expect((await fx.call('sym_nope', '/v1/models')).status).toBe(401);
  });

  it('base-model server unreachable → 503 with Retry-After, and the edge recovers nothing half-done', async () => {
    await fx.stack.server.stop();
    const res = await fx.call(apiKey, '/v1/completions', { body: { model: 'lora', prompt: PROMPT, max_tokens: 4 } });
    expect(res.status).toBe(503);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/base-model server is unavailable/);
    // The adapters are still there.
    expect((await fx.call(apiKey, '/v1/adapters/lora')).status).toBe(200);
  });
});
