/** Generation through a base-model server: the adapter runs here, at the taps. */
import type { TapAdapter } from '../shared/adapters/taps';
import { parseHfConfig } from '../shared/model/config';
import type { ModelConfig } from '../shared/model/types';
import { newTokenId, signSessionToken } from '../shared/protocol/token';
import type { SamplingParams } from '../shared/reference/sampling';
import { SplitSession } from '../shared/split';
import { generateTokens } from '../shared/split/generate';
import { Tokenizer } from '../shared/tokenizer';
import { connect, httpBase } from '../gpu-server/client';
import { toHfConfig } from '../shared/model/config';

async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url).catch((e: Error) => {
    throw new Error(`cannot reach ${url}: ${e.message}`);
  });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.json();
}

/** The served model's config and tokenizer, from the server itself. */
export async function serverModel(server: string): Promise<{ config: ModelConfig; tokenizer: Tokenizer }> {
  const base = httpBase(server);
  const info = (await getJson(`${base}/v1/info`)) as { model: ModelConfig };
  const config = parseHfConfig(toHfConfig(info.model), { bos_token_id: info.model.bosTokenId, eos_token_id: info.model.eosTokenIds });
  const tok = (await getJson(`${base}/v1/tokenizer`)) as { tokenizerJson: object; tokenizerConfig?: object };
  return { config, tokenizer: Tokenizer.fromFiles(tok.tokenizerJson, tok.tokenizerConfig) };
}

export interface SplitGenerateOptions {
  server: string;
  secret: string;
  config: ModelConfig;
  promptIds: number[];
  maxTokens: number;
  sampling: SamplingParams;
  adapter?: TapAdapter;
  onToken: (id: number) => void;
}

/** Greedy or sampled generation; sampling runs on the server, seeded per session. */
export async function generateSplit(o: SplitGenerateOptions): Promise<number[]> {
  if (o.maxTokens === 0) return [];
  const maxContext = o.promptIds.length + o.maxTokens;
  const token = await signSessionToken(
    { tenant: 'dev', exp: Math.floor(Date.now() / 1000) + 3600, jti: newTokenId(), limits: { maxSessions: 16, maxContext, maxMemoryBytes: 2 ** 40 } },
    o.secret,
  );
  const session = await SplitSession.open(await connect(o.server), {
    token,
    mode: 'inference',
    maxContext,
    config: o.config,
    adapter: o.adapter,
    sampling: { temperature: o.sampling.temperature ?? 1, topP: o.sampling.topP ?? 1, topK: o.sampling.topK, seed: o.sampling.seed },
  });
  try {
    const { ids } = await generateTokens(session, o.promptIds, { maxTokens: o.maxTokens, stopIds: o.config.eosTokenIds, onToken: o.onToken });
    return ids;
  } finally {
    session.close();
  }
}
