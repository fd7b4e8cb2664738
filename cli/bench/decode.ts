/**
 * Aggregate decode tokens/s of concurrent sessions through a real base-model server (startServer
 * on port 0) and real WebSocket clients — what `bench serve` and `bench gpu` measure. Each entry
 * of `adapters` is one session (undefined: base only, its adapter otherwise, run client-side at
 * the taps). An optional deadline stops the timed part early (sessions finish the step in
 * flight), which keeps a device run inside its time budget on any card.
 */
import type { TapAdapter } from '../../shared/adapters/taps';
import type { Backend } from '../../gpu-server/backend/types';
import { connect } from '../../gpu-server/client';
import { startServer, type RunningServer } from '../../gpu-server/server';
import type { Model, ModelConfig } from '../../shared/model/types';
import { devSessionToken, newTokenId } from '../../shared/protocol/token';
import type { SamplingParams } from '../../shared/reference/sampling';
import { SplitSession } from '../../shared/split';

export const PROMPT = [1, 17, 42, 99, 7]; // BOS and a few ids; every preset's vocab holds them

export interface DecodeLimits {
  /** Decode steps per session at most. */
  steps: number;
  /** Wall-clock cap of the timed part, if any. */
  maxSeconds?: number;
}

export interface DecodeRun {
  sessions: number;
  /** Decode tokens of all sessions (the prefill's token not counted). */
  tokens: number;
  seconds: number;
  tokensPerSecond: number;
  /** Each session's tokens: the prefill's, then one per decode step. */
  ids: number[][];
}

/** A server on `backend` for the duration of `body`. */
export async function withServer<T>(model: Model, backend: Backend, body: (server: RunningServer, secret: string) => Promise<T>): Promise<T> {
  const secret = `bench-${newTokenId()}`;
  const server = await startServer({ model, name: 'bench', backend, secret, port: 0 });
  try {
    return await body(server, secret);
  } finally {
    await server.close();
  }
}

/**
 * Opens one session per adapter on the server at `url`, prefills all, then times concurrent decode
 * steps: greedy, or drawn with `sampling` (session i seeded with i, so a run repeats).
 */
export async function decode(url: string, secret: string, config: ModelConfig, adapters: (TapAdapter | undefined)[], limits: DecodeLimits, sampling: SamplingParams = { temperature: 0 }): Promise<DecodeRun> {
  const maxContext = PROMPT.length + limits.steps + 1;
  const opened = await Promise.all(
    adapters.map(async (adapter, i) => {
      const token = await devSessionToken(secret, `bench-${i}`, { maxSessions: 4, maxContext, maxMemoryBytes: 2 ** 40 });
      return SplitSession.open(await connect(url), { token, mode: 'inference', maxContext, config, adapter, sampling: { ...sampling, seed: i } });
    }),
  );
  try {
    const ids = await Promise.all(opened.map(async (s) => [(await s.forward(PROMPT)).token!]));
    const t0 = performance.now();
    const deadline = t0 + (limits.maxSeconds ?? Infinity) * 1000;
    let tokens = 0;
    await Promise.all(
      opened.map(async (s, i) => {
        const own = ids[i];
        for (let k = 0; k < limits.steps && performance.now() < deadline; k++) {
          own.push((await s.forward([own[own.length - 1]])).token!);
          tokens++;
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    return { sessions: opened.length, tokens, seconds, tokensPerSecond: tokens / seconds, ids };
  } finally {
    for (const s of opened) s.close();
  }
}
