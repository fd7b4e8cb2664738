/**
 * The OpenAI-compatible inference API: GET /v1/models, POST /v1/completions and
 * POST /v1/chat/completions, answered whole or streamed as server-sent events ending with
 * `data: [DONE]`.
 */
import { Hono, type Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { z } from 'zod';
import { ChatRequestSchema, CompletionRequestSchema, DEFAULT_CHAT_TEMPLATE, type FinishReason, type ModelObject, type Usage } from '../../shared/api/openai';
import { randomToken } from '../crypto';
import type { EdgeEnv } from '../deps';
import { ApiError, badRequest, invalidBody, readJson } from '../errors';
import { generate, type GenerationRequest } from './generate';

async function parse<S extends z.ZodType>(c: Context<EdgeEnv>, schema: S): Promise<z.infer<S>> {
  const parsed = schema.safeParse(await readJson(c.req.raw));
  if (!parsed.success) throw invalidBody(parsed.error);
  return parsed.data;
}

const stopList = (stop: string | string[] | undefined) => (stop === undefined ? [] : typeof stop === 'string' ? [stop] : stop);

interface Shape {
  object: string;
  chunkObject: string;
  idPrefix: string;
  /** A choice's text, whole (delta = false) or as a stream chunk's delta. */
  choice: (text: string, finishReason: FinishReason | null, delta: boolean, first: boolean) => object;
}

const COMPLETION: Shape = {
  object: 'text_completion',
  chunkObject: 'text_completion',
  idPrefix: 'cmpl-',
  choice: (text, finish_reason) => ({ index: 0, text, logprobs: null, finish_reason }),
};

const CHAT: Shape = {
  object: 'chat.completion',
  chunkObject: 'chat.completion.chunk',
  idPrefix: 'chatcmpl-',
  choice: (text, finish_reason, delta, first) =>
    delta ? { index: 0, delta: first ? { role: 'assistant', content: text } : { content: text }, logprobs: null, finish_reason } : { index: 0, message: { role: 'assistant', content: text }, logprobs: null, finish_reason },
};

async function respond(c: Context<EdgeEnv>, shape: Shape, r: GenerationRequest, stream: { on: boolean; usage: boolean }): Promise<Response> {
  const { deps, tenant } = c.var;
  const head = { id: shape.idPrefix + randomToken(18), created: Math.floor(Date.now() / 1000), model: r.model };
  if (!stream.on) {
    let text = '';
    const { finishReason, usage } = await generate(deps, tenant.id, r, async (t) => {
      text += t;
    });
    return c.json({ ...head, object: shape.object, choices: [shape.choice(text, finishReason, false, true)], usage });
  }
  // Resolve the model and reach the server before the 200 goes out, so those failures are plain HTTP errors.
  await deps.base.info();
  return streamSSE(c, async (sse) => {
    const chunk = (choices: object[], usage?: Usage) => sse.writeSSE({ data: JSON.stringify({ ...head, object: shape.chunkObject, choices, ...(usage ? { usage } : {}) }) });
    let first = true;
    try {
      const { finishReason, usage } = await generate(deps, tenant.id, r, async (t) => {
        await chunk([shape.choice(t, null, true, first)]);
        first = false;
      });
      await chunk([shape.choice('', finishReason, true, first)]);
      if (stream.usage) await chunk([], usage);
    } catch (e) {
      const error = e instanceof ApiError ? { message: e.message, code: e.code } : { message: 'internal error', code: 'internal_error' };
      await sse.writeSSE({ data: JSON.stringify({ error }) });
    }
    await sse.writeSSE({ data: '[DONE]' });
  });
}

export const inference = new Hono<EdgeEnv>()
  .get('/models', async (c) => {
    const { deps, tenant } = c.var;
    const base = await deps.base.info();
    const created = (iso: string) => Math.floor(Date.parse(iso) / 1000);
    const data: ModelObject[] = [
      { id: base.name, object: 'model', created: 0, owned_by: 'symbiosis' },
      ...(await deps.adapters.list(tenant.id)).map((a): ModelObject => ({ id: a.name, object: 'model', created: created(a.createdAt), owned_by: tenant.id })),
    ];
    return c.json({ object: 'list', data });
  })
  .post('/completions', async (c) => {
    const body = await parse(c, CompletionRequestSchema);
    const { tokenizer } = await c.var.deps.base.info();
    const r: GenerationRequest = { model: body.model, promptIds: tokenizer.encode(body.prompt), maxTokens: body.max_tokens ?? 16, temperature: body.temperature, topP: body.top_p, seed: body.seed, stop: stopList(body.stop) };
    return respond(c, COMPLETION, r, { on: body.stream, usage: body.stream_options?.include_usage ?? false });
  })
  .post('/chat/completions', async (c) => {
    const body = await parse(c, ChatRequestSchema);
    if (body.max_tokens !== undefined && body.max_completion_tokens !== undefined) throw badRequest('give max_tokens or max_completion_tokens, not both', 'invalid_field', 'max_completion_tokens');
    const { tokenizer } = await c.var.deps.base.info();
    const text = tokenizer.applyChatTemplate(body.messages, { addGenerationPrompt: true, fallback: DEFAULT_CHAT_TEMPLATE });
    // The template writes BOS itself where the model wants it.
    const r: GenerationRequest = { model: body.model, promptIds: tokenizer.encode(text, { addSpecialTokens: false }), maxTokens: body.max_completion_tokens ?? body.max_tokens, temperature: body.temperature, topP: body.top_p, seed: body.seed, stop: stopList(body.stop) };
    return respond(c, CHAT, r, { on: body.stream, usage: body.stream_options?.include_usage ?? false });
  });
