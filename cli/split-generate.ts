/** Generation through a base-model server: the adapter runs here, at the taps. */
import type { TapAdapter } from '../shared/adapters/taps';
import type { ModelConfig } from '../shared/model/types';
import { devSessionToken } from '../shared/protocol/token';
import type { SamplingParams } from '../shared/reference/sampling';
import { SplitSession } from '../shared/split';
import { generateTokens } from '../shared/split/generate';
import { fetchServedModel, type ServedModel } from '../shared/split/served-model';
import { connect, httpBase } from '../gpu-server/client';

/** The served model's config and tokenizer, from the server itself. */
export function serverModel(server: string): Promise<ServedModel> {
  return fetchServedModel(httpBase(server));
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
  const token = await devSessionToken(o.secret, 'dev', { maxSessions: 16, maxContext, maxMemoryBytes: 2 ** 40 });
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
