/**
 * Aggregate training tokens/s of concurrent sessions through a real base-model server — what
 * `bench gpu` compares between backends. Each session has its own LoRA (r 8 on q_proj and v_proj,
 * run client-side at the taps) and steps forward + backward on one `seqLen`-token sequence at a
 * time, as a `bench finetune` job does; no optimizer step, since what differs between backends
 * is the server's share. A deadline, if given, ends the timed part early (sessions finish the
 * step in flight).
 */
import { createLora } from '../../shared/adapters';
import type { ModelConfig } from '../../shared/model/types';
import { devSessionToken } from '../../shared/protocol/token';
import { SplitSession } from '../../shared/split';
import { connect } from '../../gpu-server/client';
import type { RunningServer } from '../../gpu-server/server';
import { syntheticSequences } from './finetune/plan';

export interface TrainLimits {
  /** Timed steps per session at most (after one untimed warm-up step). */
  steps: number;
  /** Tokens per sequence. */
  seqLen: number;
  maxSeconds?: number;
}

export interface TrainRun {
  sessions: number;
  /** Input tokens of all timed steps. */
  tokens: number;
  seconds: number;
  tokensPerSecond: number;
  /** Each session's loss at its first timed step. */
  losses: number[];
}

export async function trainSteps(server: RunningServer, secret: string, config: ModelConfig, sessions: number, limits: TrainLimits): Promise<TrainRun> {
  const opened = await Promise.all(
    Array.from({ length: sessions }, async (_, i) => {
      const token = await devSessionToken(secret, `bench-train-${i}`, { maxSessions: 2, maxContext: limits.seqLen, maxMemoryBytes: 2 ** 40 });
      const adapter = createLora({ modelConfig: config, r: 8, alpha: 16, targetModules: ['q_proj', 'v_proj'], seed: i });
      return SplitSession.open(await connect(server.url), { token, mode: 'training', maxContext: limits.seqLen, config, adapter });
    }),
  );
  try {
    // Each session's one sequence, as bench finetune's jobs draw theirs.
    const sequences = opened.map((_, i) => syntheticSequences(i, 1, limits.seqLen, config.vocabSize)[0]);
    const step = async (s: SplitSession, i: number) => {
      const { tokens, targets, mask } = sequences[i];
      const { loss } = await s.trainForward(tokens, targets, mask);
      await s.backward();
      return loss!;
    };
    await Promise.all(opened.map(step)); // warm-up, untimed
    const t0 = performance.now();
    const deadline = t0 + (limits.maxSeconds ?? Infinity) * 1000;
    let tokens = 0;
    const losses = await Promise.all(
      opened.map(async (s, i) => {
        let first = NaN;
        for (let k = 0; k < limits.steps && performance.now() < deadline; k++) {
          const loss = await step(s, i);
          if (k === 0) first = loss;
          tokens += limits.seqLen;
        }
        return first;
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    return { sessions, tokens, seconds, tokensPerSecond: tokens / seconds, losses };
  } finally {
    for (const s of opened) s.close();
  }
}
