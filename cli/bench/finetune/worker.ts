/**
 * One fine-tuning job of `bench finetune`, as its own OS process (forked with tsx; see
 * finetune.ts), so its peak RSS is its own. Two kinds, the same Trainer either way:
 *
 *   client     a tenant of the shared server: the adapter, its gradients and AdamW here, the
 *              base model behind a WebSocket (connect), one training session per step;
 *   dedicated  the same job with its own copy of the base model: the model directory loaded
 *              here, the server's engine (cpu backend) in this process, each session through
 *              an in-process channelPair + Connection — the same code, no split.
 *
 * IPC with the parent: → {type:'ready'} once loaded and warmed up (untimed steps); ← {type:'go'};
 * → {type:'done', result: JobResult}; ← {type:'exit'}. The parent reads /proc/<pid>/status
 * between 'done' and 'exit'. Heavy modules are imported per kind, so a client never loads
 * onnxruntime or the model.
 */
import { createIa3, createLora, resolveTargets, type PeftAdapter } from '../../../shared/adapters';
import type { ModuleName } from '../../../shared/adapters/taps';
import type { Floats, ModelConfig } from '../../../shared/model/types';
import type { FrameChannel } from '../../../shared/protocol/channel';
import { devSessionToken } from '../../../shared/protocol/token';
import { SplitSession } from '../../../shared/split';
import { DataStream } from '../../../shared/train/data';
import { Trainer } from '../../../shared/train/trainer';
import { syntheticSequences, trainConfig, type JobResult, type JobSpec } from './plan';

export interface WorkerConfig {
  kind: 'client' | 'dedicated';
  job: JobSpec;
  /** client: the server's http:// URL. */
  serverUrl?: string;
  /** dedicated: the model directory. */
  modelDir?: string;
  seqLen: number;
  warmupSteps: number;
  steps: number;
  /** dedicated: the backend of this process's engine (the shared server's is set by the bench). */
  backend: 'cpu' | 'webgpu';
  /** dedicated, cpu backend: its onnxruntime intra-op threads (as the shared server's). */
  threads?: number;
}

/** Tokens of the warm-up sequence. */
const WARMUP_TOKENS = 8;

type Frozen = (layer: number, module: ModuleName) => Floats;

function makeAdapter(job: JobSpec, config: ModelConfig, frozen: Frozen | undefined): PeftAdapter {
  const { rank, targetModules, seed } = job;
  switch (job.method) {
    case 'lora':
      return createLora({ modelConfig: config, r: rank, alpha: 2 * rank, targetModules, seed });
    case 'dora':
      if (!frozen) throw new Error('DoRA needs the frozen weights of its modules');
      return createLora({ modelConfig: config, r: rank, alpha: 2 * rank, targetModules, seed, useDora: true, weight: frozen });
    case 'ia3':
      return createIa3({ modelConfig: config, targetModules, feedforwardModules: targetModules.filter((m) => m === 'down_proj' || m === 'o_proj') });
  }
}

/** As `symbiosis train` does for DoRA: the frozen weights of its target modules, from the server (the random model has no biases). */
async function fetchFrozen(serverUrl: string, config: ModelConfig, job: JobSpec): Promise<Frozen> {
  const { parseSafetensors, tensorToFloat32 } = await import('../../../shared/safetensors');
  const probe = createLora({ modelConfig: config, r: 1, alpha: 1, targetModules: job.targetModules, seed: 0 });
  const weights = new Map<string, Float32Array>();
  for (const t of resolveTargets(probe.config as Parameters<typeof resolveTargets>[0], config)) {
    const res = await fetch(`${serverUrl}/v1/weights/${t.layer}/${t.module}`);
    if (!res.ok) throw new Error(`frozen weights of ${t.module}, layer ${t.layer}: HTTP ${res.status}`);
    weights.set(`${t.layer}.${t.module}`, tensorToFloat32(parseSafetensors(new Uint8Array(await res.arrayBuffer())).tensors.get('weight')!));
  }
  return (layer, module) => weights.get(`${layer}.${module}`)!;
}

interface Setup {
  config: ModelConfig;
  frozen?: Frozen;
  channel(): Promise<FrameChannel>;
}

async function clientSetup(serverUrl: string, job: JobSpec): Promise<Setup> {
  const { connect } = await import('../../../gpu-server/client');
  const info = (await (await fetch(`${serverUrl}/v1/info`)).json()) as { model: ModelConfig };
  const config = info.model;
  return { config, frozen: job.method === 'dora' ? await fetchFrozen(serverUrl, config, job) : undefined, channel: () => connect(serverUrl) };
}

async function dedicatedSetup(modelDir: string, secret: string, backendKind: WorkerConfig['backend'], threads: number | undefined): Promise<Setup> {
  const [{ loadModelDirectory }, { folderSource }, { createBackend }, { Engine }, { Connection }, { channelPair }, { baseFromModel }] = await Promise.all([
    import('../../../shared/model/directory'),
    import('../../../shared/node/files'),
    import('../../../gpu-server/backend'),
    import('../../../gpu-server/engine'),
    import('../../../gpu-server/handler'),
    import('../../../shared/protocol/channel'),
    import('../../../shared/adapters'),
  ]);
  const { model } = await loadModelDirectory(folderSource(modelDir));
  const backend = await createBackend(model, backendKind, { threads });
  // As startServer builds it (same batch cap), minus HTTP and WebSocket.
  const engine = new Engine(model, backend, { maxBatchRows: 512 });
  const usedTokens = new Map<string, number>();
  return {
    config: model.config,
    frozen: baseFromModel(model).weight,
    async channel() {
      const [client, server] = channelPair();
      new Connection(server, { engine, secret, maxFrameBytes: 64 * 1024 * 1024, usedTokens });
      return client;
    },
  };
}

const send = (msg: object) => new Promise<void>((done, fail) => process.send!(msg, undefined, {}, (e) => (e ? fail(e) : done())));
const nextMessage = (type: string) =>
  new Promise<void>((done) => {
    const on = (m: { type?: string }) => {
      if (m?.type !== type) return;
      process.off('message', on);
      done();
    };
    process.on('message', on);
  });

async function main(): Promise<void> {
  if (!process.send) throw new Error('run by bench finetune (needs an IPC channel)');
  const cfg = JSON.parse(process.argv[2]) as WorkerConfig;
  const secret = process.env.BENCH_FINETUNE_SECRET;
  if (!secret) throw new Error('BENCH_FINETUNE_SECRET is not set');
  const setup = cfg.kind === 'client' ? await clientSetup(cfg.serverUrl!, cfg.job) : await dedicatedSetup(cfg.modelDir!, secret, cfg.backend, cfg.threads);
  const { config } = setup;

  const open = async (a: PeftAdapter, maxContext: number) => {
    const token = await devSessionToken(secret, `job-${cfg.job.seed}`, { maxSessions: 2, maxContext: 4096, maxMemoryBytes: 2 ** 34 });
    return SplitSession.open(await setup.channel(), { token, mode: 'training', maxContext, config, adapter: a });
  };
  // Warm-up (untimed): a throwaway copy of the job on short sequences runs every code path once
  // (onnxruntime's first runs, JIT), so the measured training below starts from step 0 and is
  // the same in both setups.
  const warm = new Trainer(makeAdapter(cfg.job, config, setup.frozen), open, new DataStream(syntheticSequences(0, 1, WARMUP_TOKENS, config.vocabSize), 0), trainConfig(cfg.warmupSteps));
  for (let i = 0; i < cfg.warmupSteps; i++) await warm.trainStep();

  const adapter = makeAdapter(cfg.job, config, setup.frozen);
  const data = new DataStream(syntheticSequences(cfg.job.seed, 64, cfg.seqLen, config.vocabSize), cfg.job.seed);
  const trainer = new Trainer(adapter, open, data, trainConfig(cfg.steps));

  const go = nextMessage('go');
  await send({ type: 'ready' });
  await go;
  const losses: number[] = [];
  let tokens = 0;
  const startMs = performance.timeOrigin + performance.now();
  for (let i = 0; i < cfg.steps; i++) {
    const r = await trainer.trainStep();
    losses.push(r.loss);
    tokens += r.tokens;
  }
  const endMs = performance.timeOrigin + performance.now();
  const result: JobResult = { name: cfg.job.name, steps: cfg.steps, tokens, seconds: (endMs - startMs) / 1000, startMs, endMs, losses, maxRssBytes: process.resourceUsage().maxRSS * 1024 };
  const exit = nextMessage('exit');
  await send({ type: 'done', result });
  await exit;
  process.exit(0);
}

main().catch(async (e: unknown) => {
  const message = e instanceof Error ? (e.stack ?? e.message) : String(e);
  process.stderr.write(`bench finetune worker: ${message}\n`);
  if (process.send) await send({ type: 'error', message }).catch(() => undefined);
  process.exit(1);
});
