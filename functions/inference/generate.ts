/**
 * One request's generation: resolve the model (the base, or one of the tenant's adapters),
 * open a split session on a base-model server, generate, and turn tokens into text as they
 * come (a short window of tokens decoded per token, so spaces and multi-byte characters survive),
 * cutting at stop strings.
 */
import type { FinishReason, Usage } from '../../shared/api/openai';
import type { PeftAdapter } from '../../shared/adapters/adapter';
import { generateTokens } from '../../shared/split/generate';
import { StreamDecoder } from '../../shared/tokenizer/stream-decoder';
import type { Deps } from '../deps';
import { badRequest, notFound } from '../errors';
import { StopMatcher } from './stop';

export interface GenerationRequest {
  model: string;
  promptIds: number[];
  /** undefined: until the context is full. */
  maxTokens: number | undefined;
  temperature: number;
  topP: number;
  seed?: number;
  stop: string[];
}

export async function resolveAdapter(deps: Deps, tenant: string, model: string): Promise<PeftAdapter | undefined> {
  if (model === (await deps.base.info()).name) return undefined;
  try {
    return await deps.adapters.load(tenant, model);
  } catch (e) {
    if ((e as { code?: string }).code === 'not_found') throw notFound(`the model "${model}" does not exist: use the base model or one of your adapters (GET /v1/models)`);
    throw e;
  }
}

/** Runs the generation, handing each piece of text to `emit`; returns why it ended and the usage. */
export async function generate(deps: Deps, tenant: string, r: GenerationRequest, emit: (text: string) => Promise<void>): Promise<{ finishReason: FinishReason; usage: Usage }> {
  const { config, tokenizer } = await deps.base.info();
  const adapter = await resolveAdapter(deps, tenant, r.model);
  const room = config.maxSeqLen - r.promptIds.length - (adapter?.promptEmbeddings ? adapter.promptEmbeddings.length / config.dim : 0);
  if (room < 1) throw badRequest(`the prompt is ${r.promptIds.length} tokens; this model's context is ${config.maxSeqLen}`, 'context_length_exceeded', 'prompt');
  const maxTokens = r.maxTokens ?? room;
  if (maxTokens > room) throw badRequest(`max_tokens ${maxTokens} does not fit: the prompt leaves room for ${room} tokens in this model's ${config.maxSeqLen}-token context`, 'context_length_exceeded', 'max_tokens');
  const usage = (completion: number): Usage => ({ prompt_tokens: r.promptIds.length, completion_tokens: completion, total_tokens: r.promptIds.length + completion });
  if (maxTokens === 0) return { finishReason: 'length', usage: usage(0) };

  const session = await deps.base.openSession(tenant, { mode: 'inference', maxContext: r.promptIds.length + maxTokens, adapter, sampling: { temperature: r.temperature, topP: r.topP, seed: r.seed } });
  try {
    const decoder = new StreamDecoder(tokenizer, r.promptIds);
    const stops = new StopMatcher(r.stop);
    const { ids, finishReason } = await generateTokens(session, r.promptIds, {
      maxTokens,
      stopIds: config.eosTokenIds,
      onToken: async (id) => {
        const text = stops.push(decoder.push(id));
        if (text) await emit(text);
        return stops.stopped ? 'stop' : undefined;
      },
    });
    const rest = stops.push(decoder.flush()) + stops.flush();
    if (rest) await emit(rest);
    return { finishReason: stops.stopped ? 'stop' : finishReason, usage: usage(ids.length) };
  } finally {
    session.close();
  }
}
