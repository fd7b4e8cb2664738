/**
 * `symbiosis train`: fine-tunes an adapter on this machine through split execution. The edge
 * authenticates the tenant and mints session tokens; the base model runs on the server; the
 * adapter, its gradients and the optimizer never leave this process. Writes a PEFT adapter
 * directory with the loss curve (loss.svg) and the per-step log (train_log.jsonl).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { SessionGrant } from '../../shared/api/sessions';
import { writePeftAdapter } from '../../shared/adapters';
import { writeFolder } from '../../shared/node/files';
import { SplitSession } from '../../shared/split';
import { buildSequences, DataStream, parseJsonl, tokenizeExample } from '../../shared/train/data';
import { Trainer } from '../../shared/train/trainer';
import { connect, httpBase } from '../../gpu-server/client';
import { numberOption, parseCommand, requiredString, UsageError, type Command } from '../args';
import { serverModel } from '../split-generate';
import { lossCurveSvg, type LossPoint } from './loss-curve';
import { weightsFromServer } from '../../shared/split/served-model';
import { METHODS, newAdapter, type Method } from '../../shared/train/new-adapter';
import { CheckpointFolder } from './checkpoints';
import { Progress } from './progress';

async function grant(baseUrl: string, apiKey: string): Promise<SessionGrant> {
  const res = await fetch(`${baseUrl.replace(/\/+$/, '')}/v1/sessions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ mode: 'training' }),
  }).catch((e: Error) => {
    throw new Error(`cannot reach the edge at ${baseUrl}: ${e.message}`);
  });
  if (res.status !== 201) throw new Error(`the edge refused a training session: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as SessionGrant;
}

const int = (min: number) => z.number().int().min(min);

export const trainCommand: Command = {
  name: 'train',
  summary: 'fine-tune a LoRA, DoRA, IA3 or prompt-tuning adapter here, with the base model on the server',
  usage: `Usage: symbiosis train --data <file.jsonl> --base-url <edge-url> --api-key <key> --out <peft-dir> [options]

Data: JSONL, one {"text": …} or {"messages": [{"role", "content"}, …]} per line (chat examples
train on the assistant's tokens only).

Options:
  --method lora|dora|ia3|prompt   default lora
  --rank R, --alpha A             LoRA/DoRA rank (default 8) and alpha (default 2·rank)
  --target-modules a,b            default q_proj,v_proj (ia3: k_proj,v_proj,down_proj)
  --virtual-tokens N              prompt tuning (default 8)
  --steps N                       optimizer steps (default 100)
  --lr X                          peak learning rate (default 1e-3; warm-up then cosine decay)
  --warmup N                      warm-up steps (default steps/10)
  --weight-decay X                AdamW decay (default 0.01)
  --max-grad-norm X               clipping (default 1)
  --grad-accum N                  sequences per step (default 1)
  --max-length N                  tokens per sequence (default 256)
  --no-pack                       one example per sequence instead of packing
  --val-fraction F                held out for validation (default 0.1 when ≥ 10 examples, else 0)
  --seed S                        default 0: same data, seed and flags → same adapter
  --checkpoint-dir D              save a checkpoint (adapter, optimizer, data cursor) there
  --checkpoint-every N            every N steps (default 10)
  --resume                        continue from the checkpoint in --checkpoint-dir (same flags);
                                  a run killed at any moment and resumed ends with the same adapter`,
  async run(argv) {
    const parsed = parseCommand(this, argv, {
      data: { type: 'string' },
      'base-url': { type: 'string' },
      'api-key': { type: 'string' },
      out: { type: 'string' },
      method: { type: 'string' },
      rank: { type: 'string' },
      alpha: { type: 'string' },
      'target-modules': { type: 'string' },
      'virtual-tokens': { type: 'string' },
      steps: { type: 'string' },
      lr: { type: 'string' },
      warmup: { type: 'string' },
      'weight-decay': { type: 'string' },
      'max-grad-norm': { type: 'string' },
      'grad-accum': { type: 'string' },
      'max-length': { type: 'string' },
      'no-pack': { type: 'boolean' },
      'val-fraction': { type: 'string' },
      seed: { type: 'string' },
      'checkpoint-dir': { type: 'string' },
      'checkpoint-every': { type: 'string' },
      resume: { type: 'boolean' },
    });
    if (!parsed) return 0;
    const v = parsed.values;
    const method = (v.method ?? 'lora') as Method;
    if (!METHODS.includes(method)) throw new UsageError(`--method must be one of ${METHODS.join(', ')}`);
    const dataFile = requiredString('data', v.data);
    const baseUrl = requiredString('base-url', v['base-url']);
    const apiKey = requiredString('api-key', v['api-key'] ?? process.env.SYMBIOSIS_API_KEY);
    const out = requiredString('out', v.out);
    const rank = numberOption('rank', v.rank, int(1)) ?? 8;
    const steps = numberOption('steps', v.steps, int(1)) ?? 100;
    const seed = numberOption('seed', v.seed, int(0)) ?? 0;
    const maxLength = numberOption('max-length', v['max-length'], int(2)) ?? 256;

    const examples = parseJsonl(await readFile(dataFile, 'utf8'), dataFile);
    const first = await grant(baseUrl, apiKey);
    const { config, tokenizer } = await serverModel(first.url);
    const adapter = await newAdapter(
      {
        method,
        rank,
        alpha: numberOption('alpha', v.alpha, z.number().positive()) ?? 2 * rank,
        targetModules: v['target-modules']?.split(',').map((s) => s.trim()) ?? (method === 'ia3' ? ['k_proj', 'v_proj', 'down_proj'] : ['q_proj', 'v_proj']),
        virtualTokens: numberOption('virtual-tokens', v['virtual-tokens'], int(1)) ?? 8,
        seed,
      },
      config,
      weightsFromServer(httpBase(first.url)),
    );

    const sequences = buildSequences(examples.map((e) => tokenizeExample(e, tokenizer)), Math.min(maxLength, config.maxSeqLen - (adapter.promptEmbeddings?.length ?? 0) / config.dim), !v['no-pack']);
    const valFraction = numberOption('val-fraction', v['val-fraction'], z.number().min(0).lt(1)) ?? (sequences.length >= 10 ? 0.1 : 0);
    const nVal = Math.floor(sequences.length * valFraction);
    const val = sequences.slice(sequences.length - nVal);
    let pending: SessionGrant | undefined = first;
    const open = async (a: typeof adapter, maxContext: number) => {
      const g = pending ?? (await grant(baseUrl, apiKey));
      pending = undefined;
      return SplitSession.open(await connect(g.url), { token: g.token, mode: 'training', maxContext, config, adapter: a });
    };
    const trainer = new Trainer(adapter, open, new DataStream(sequences.slice(0, sequences.length - nVal), seed), {
      lr: numberOption('lr', v.lr, z.number().positive()) ?? 1e-3,
      warmupSteps: numberOption('warmup', v.warmup, int(0)) ?? Math.floor(steps / 10),
      totalSteps: steps,
      minRatio: 0.1,
      weightDecay: numberOption('weight-decay', v['weight-decay'], z.number().min(0)) ?? 0.01,
      maxGradNorm: numberOption('max-grad-norm', v['max-grad-norm'], z.number().positive()) ?? 1,
      gradAccum: numberOption('grad-accum', v['grad-accum'], int(1)) ?? 1,
    });

    const checkpoints = v['checkpoint-dir'] ? new CheckpointFolder(v['checkpoint-dir']) : undefined;
    const checkpointEvery = numberOption('checkpoint-every', v['checkpoint-every'], int(1)) ?? 10;
    if (v.resume && !checkpoints) throw new UsageError('--resume needs --checkpoint-dir');
    const log: LossPoint[] = [];
    if (v.resume) {
      const resumed = await checkpoints!.load(adapter, trainer);
      log.push(...resumed.log);
      process.stderr.write(`symbiosis train: resumed at step ${trainer.step}\n`);
    }
    const progress = new Progress(steps, trainer.step);
    const evalEvery = Math.max(1, Math.floor(steps / 10));
    while (trainer.step < steps) {
      const r = await trainer.trainStep();
      const valLoss = val.length && (r.step % evalEvery === 0 || r.step === steps) ? await trainer.validate(val) : undefined;
      log.push({ step: r.step, loss: r.loss, ...(valLoss === undefined ? {} : { valLoss }) });
      progress.update(r, valLoss);
      if (checkpoints && (r.step % checkpointEvery === 0 || r.step === steps)) await checkpoints.save(adapter, trainer, log);
    }
    progress.done();

    const files = writePeftAdapter(adapter);
    await writeFolder(out, new Map<string, Uint8Array | string>([['adapter_config.json', files.configJson], ['adapter_model.safetensors', files.safetensors]]));
    await writeFile(join(out, 'loss.svg'), lossCurveSvg(log, `${method} on ${first.model}: ${steps} steps`));
    await writeFile(join(out, 'train_log.jsonl'), log.map((p) => JSON.stringify(p)).join('\n') + '\n');
    process.stderr.write(`symbiosis train: wrote ${out} (adapter_config.json, adapter_model.safetensors, loss.svg, train_log.jsonl)\n`);
    return 0;
  },
};
