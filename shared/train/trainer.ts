/**
 * Fine-tuning an adapter through split execution: the base model runs on the server, the
 * adapter, its gradients and the optimizer stay here. One optimizer step = `gradAccum`
 * sequences forward and backward through a training session, gradients averaged, clipped,
 * AdamW with the scheduled learning rate, then the adapter's derived values refreshed.
 */
import type { PeftAdapter } from '../adapters/adapter';
import { PROMPT_EMBEDDINGS_KEY } from '../adapters/modules';
import type { SplitSession } from '../split';
import { AdamW, clipGradNorm, type AdamWState } from './optimizer';
import { learningRate, type Schedule } from './schedule';
import type { DataCursor, DataStream, Sequence } from './data';

export interface TrainConfig extends Schedule {
  weightDecay: number;
  maxGradNorm: number;
  gradAccum: number;
}

export interface StepReport {
  step: number;
  loss: number;
  lr: number;
  gradNorm: number;
  /** Input tokens processed by this step. */
  tokens: number;
}

export interface TrainerState {
  step: number;
  optimizer: AdamWState;
  cursor: DataCursor;
}

/** Opens a training session for the adapter as it is now (prompt tuning sends its embeddings at open). */
export type OpenTrainingSession = (adapter: PeftAdapter, maxContext: number) => Promise<SplitSession>;

export class Trainer {
  readonly optimizer: AdamW;
  step = 0;

  constructor(
    readonly adapter: PeftAdapter,
    private readonly open: OpenTrainingSession,
    private readonly data: DataStream,
    readonly config: TrainConfig,
  ) {
    this.optimizer = new AdamW(adapter.params, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: config.weightDecay });
  }

  private async withSession<T>(sequences: Sequence[], run: (s: SplitSession) => Promise<T>): Promise<T> {
    const session = await this.open(this.adapter, Math.max(...sequences.map((s) => s.tokens.length)));
    try {
      return await run(session);
    } finally {
      session.close();
    }
  }

  /** One optimizer step. */
  async trainStep(): Promise<StepReport> {
    const batch = Array.from({ length: this.config.gradAccum }, () => this.data.next());
    const grads = new Map<string, Float64Array>();
    let lossSum = 0;
    await this.withSession(batch, async (session) => {
      for (const seq of batch) {
        const { loss } = await session.trainForward(seq.tokens, seq.targets, seq.mask);
        // The session's tap gradients accumulate over the batch; prompt tuning's come back per call.
        const { grads: tapGrads, promptGrad } = await session.backward();
        lossSum += loss!;
        for (const [name, g] of tapGrads) grads.set(name, g);
        if (promptGrad) {
          const g = grads.get(PROMPT_EMBEDDINGS_KEY) ?? new Float64Array(promptGrad.length);
          for (let i = 0; i < g.length; i++) g[i] += promptGrad[i];
          grads.set(PROMPT_EMBEDDINGS_KEY, g);
        }
      }
    });
    return this.apply(grads, lossSum, batch);
  }

  private apply(grads: Map<string, Float64Array>, lossSum: number, batch: Sequence[]): StepReport {
    const k = batch.length;
    for (const g of grads.values()) for (let i = 0; i < g.length; i++) g[i] /= k;
    const gradNorm = clipGradNorm(grads, this.config.maxGradNorm);
    const lr = learningRate(this.step, this.config);
    this.optimizer.update(grads, lr);
    this.adapter.refresh();
    this.step++;
    return { step: this.step, loss: lossSum / k, lr, gradNorm, tokens: batch.reduce((n, s) => n + s.tokens.length, 0) };
  }

  /** Mean loss over held-out sequences (no update). */
  async validate(sequences: Sequence[]): Promise<number> {
    if (sequences.length === 0) return NaN;
    return this.withSession(sequences, async (session) => {
      let sum = 0;
      for (const seq of sequences) sum += (await session.trainForward(seq.tokens, seq.targets, seq.mask)).loss!;
      return sum / sequences.length;
    });
  }

  state(): TrainerState {
    return { step: this.step, optimizer: this.optimizer.state(), cursor: { ...this.data.cursor } };
  }

  load(state: TrainerState): void {
    this.optimizer.load(state.optimizer);
    this.step = state.step;
    this.data.cursor = { ...state.cursor };
  }
}
