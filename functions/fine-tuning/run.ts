/**
 * One hosted job's training, rebuilt from what is stored: the tenant's data file, a fresh
 * adapter from the job's seed, and — when there is one — the last checkpoint (sealed in S3
 * like adapters). Because the data order and the adapter's initialisation depend only on the
 * seed and the checkpoint holds everything else, a run rebuilt after any crash continues
 * exactly where the checkpoint left it.
 */
import type { FineTuningJob } from '../../shared/api/fine-tuning';
import { writePeftAdapter } from '../../shared/adapters';
import { decodeCheckpoint, encodeCheckpoint, restoreParams } from '../../shared/train/checkpoint';
import { buildSequences, DataStream, parseJsonl, tokenizeExample, type Sequence } from '../../shared/train/data';
import { newAdapter } from '../../shared/train/new-adapter';
import { Trainer } from '../../shared/train/trainer';
import type { Deps } from '../deps';

const MAX_LENGTH = 256;
const BASE_LR = 1e-3;

export const checkpointKey = (tenant: string, jobId: string) => `checkpoints/${tenant}/${jobId}`;

export interface JobRun {
  trainer: Trainer;
  val: Sequence[];
}

async function sequences(deps: Deps, tenant: string, fileId: string): Promise<Sequence[]> {
  const { tokenizer, config } = await deps.base.info();
  const text = new TextDecoder().decode(await deps.files.content(tenant, fileId));
  return buildSequences(parseJsonl(text, fileId).map((e) => tokenizeExample(e, tokenizer)), Math.min(MAX_LENGTH, config.maxSeqLen - 64), true);
}

/** The number of optimizer steps a job takes: epochs over its packed sequences, batch_size per step. */
export async function plannedSteps(deps: Deps, tenant: string, job: Pick<FineTuningJob, 'training_file' | 'hyperparameters'>): Promise<number> {
  const n = (await sequences(deps, tenant, job.training_file)).length;
  return job.hyperparameters.n_epochs * Math.max(1, Math.ceil(n / job.hyperparameters.batch_size));
}

export async function buildRun(deps: Deps, tenant: string, job: FineTuningJob): Promise<JobRun> {
  const { config } = await deps.base.info();
  const spec = job.adapter;
  const adapter = await newAdapter(
    {
      method: spec.type,
      rank: spec.rank,
      alpha: spec.alpha ?? 2 * spec.rank,
      targetModules: spec.target_modules ?? (spec.type === 'ia3' ? ['k_proj', 'v_proj', 'down_proj'] : ['q_proj', 'v_proj']),
      virtualTokens: spec.virtual_tokens,
      seed: job.seed,
    },
    config,
    (layer, module) => deps.base.weight(layer, module),
  );
  const train = await sequences(deps, tenant, job.training_file);
  const val = job.validation_file ? await sequences(deps, tenant, job.validation_file) : [];
  const trainer = new Trainer(
    adapter,
    (a, maxContext) => deps.base.openSession(tenant, { mode: 'training', maxContext, adapter: a }),
    new DataStream(train, job.seed),
    {
      lr: BASE_LR * job.hyperparameters.learning_rate_multiplier,
      warmupSteps: Math.floor(job.total_steps / 10),
      totalSteps: job.total_steps,
      minRatio: 0.1,
      weightDecay: 0.01,
      maxGradNorm: 1,
      gradAccum: job.hyperparameters.batch_size,
    },
  );
  const saved = await deps.store.get(tenant, checkpointKey(tenant, job.id));
  if (saved) {
    const ckpt = decodeCheckpoint(saved);
    restoreParams(adapter, ckpt.params);
    trainer.load(ckpt.state);
  }
  return { trainer, val };
}

export async function saveCheckpoint(deps: Deps, tenant: string, jobId: string, run: JobRun): Promise<void> {
  await deps.store.put(tenant, checkpointKey(tenant, jobId), encodeCheckpoint(run.trainer.adapter, run.trainer.state()));
}

/** Registers the trained adapter as the tenant's, servable by name at once. */
export async function publish(deps: Deps, tenant: string, name: string, run: JobRun): Promise<void> {
  const files = writePeftAdapter(run.trainer.adapter);
  const quotas = (await deps.tenants.get(tenant)).quotas;
  await deps.adapters.put(tenant, name, { configJson: new TextEncoder().encode(files.configJson), safetensors: files.safetensors }, quotas.maxAdapters);
}
