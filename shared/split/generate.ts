/**
 * Generation over a split session: prefill the prompt, then one decode step per token, until a
 * stop token, the token budget, or the caller (e.g. a stop string matched) says stop.
 * Sampling happens on the server, seeded per session.
 */
import type { SplitSession } from './session';

export type FinishReason = 'stop' | 'length';

export interface GenerateSteps {
  maxTokens: number;
  stopIds: readonly number[];
  /** Each generated token, in order (awaited, so a stream can write it); 'stop' ends generation after it. */
  onToken: (id: number) => 'stop' | void | Promise<'stop' | void>;
}

export async function generateTokens(session: SplitSession, promptIds: readonly number[], o: GenerateSteps): Promise<{ ids: number[]; finishReason: FinishReason }> {
  const ids: number[] = [];
  if (o.maxTokens === 0) return { ids, finishReason: 'length' };
  const stop = new Set(o.stopIds);
  let step = await session.forward(promptIds);
  for (;;) {
    const id = step.token!;
    if (stop.has(id)) return { ids, finishReason: 'stop' };
    ids.push(id);
    if ((await o.onToken(id)) === 'stop') return { ids, finishReason: 'stop' };
    if (ids.length >= o.maxTokens) return { ids, finishReason: 'length' };
    step = await session.forward([id]);
  }
}
