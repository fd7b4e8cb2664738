/**
 * `symbiosis init-random`: a deterministic Hugging Face Llama directory with random weights
 * (shared/model/random.ts), for benchmarks and tests where no real checkpoint is needed. No
 * tokenizer is written; such a model is driven by token ids.
 *
 * model.safetensors is streamed tensor by tensor straight from the model's Float32Arrays, so a
 * 110M model needs its 440 MB of weights once, not a second serialized copy. The bytes are those
 * serializeSafetensors(weightsToTensors(model), { format: 'pt' }) would produce (tested).
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { toHfConfig } from '../shared/model/config';
import { randomModel } from '../shared/model/random';
import type { Model, ModelConfig } from '../shared/model/types';
import { expectedTensors, weightsToTensors } from '../shared/model/weights';
import { writeFolder } from '../shared/node/files';
import { HOST_IS_LITTLE_ENDIAN } from '../shared/safetensors/dtypes';
import { numberOption, parseCommand, requiredString, UsageError, type Command } from './args';

type Shape = Pick<ModelConfig, 'dim' | 'hiddenDim' | 'nLayers' | 'nHeads' | 'nKvHeads' | 'vocabSize' | 'maxSeqLen' | 'tieWordEmbeddings'>;

/** Shapes only; everything else is Llama's defaults (see presetConfig). */
export const PRESETS: Record<string, { shape: Shape; note: string }> = {
  tiny: { shape: { dim: 64, hiddenDim: 172, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 256, maxSeqLen: 256, tieWordEmbeddings: false }, note: '~0.1M, for tests' },
  '6m': { shape: { dim: 256, hiddenDim: 688, nLayers: 6, nHeads: 8, nKvHeads: 4, vocabSize: 8000, maxSeqLen: 1024, tieWordEmbeddings: true }, note: '~6.4M (bench serve --quick)' },
  '30m': { shape: { dim: 512, hiddenDim: 1376, nLayers: 6, nHeads: 8, nKvHeads: 4, vocabSize: 32000, maxSeqLen: 2048, tieWordEmbeddings: true }, note: '~34M (bench serve)' },
  '110m': { shape: { dim: 768, hiddenDim: 2048, nLayers: 12, nHeads: 12, nKvHeads: 12, vocabSize: 32000, maxSeqLen: 2048, tieWordEmbeddings: true }, note: '~110M, the stories110M shape' },
};

export function presetConfig(name: string): ModelConfig {
  const preset = Object.hasOwn(PRESETS, name) ? PRESETS[name] : undefined;
  if (!preset) throw new UsageError(`--preset: unknown preset "${name}" (one of ${Object.keys(PRESETS).join(', ')})`);
  const s = preset.shape;
  return {
    architecture: 'LlamaForCausalLM',
    ...s,
    headDim: s.dim / s.nHeads,
    ropeTheta: 10000,
    rmsNormEps: 1e-5,
    attentionBias: false,
    bosTokenId: 1,
    eosTokenIds: [2],
  };
}

/** Every stored parameter (tied embeddings once). */
export function parameterCount(config: ModelConfig): number {
  let n = 0;
  for (const shape of expectedTensors(config).values()) n += shape.reduce((a, b) => a * b, 1);
  return n;
}

const json = (value: unknown) => JSON.stringify(value, null, 2) + '\n';

/** Writes config.json, generation_config.json and model.safetensors (F32) into dir. */
export async function writeRandomModelDir(dir: string, model: Model): Promise<void> {
  const { config } = model;
  await writeFolder(
    dir,
    new Map([
      ['config.json', json(toHfConfig(config))],
      ['generation_config.json', json({ bos_token_id: config.bosTokenId, eos_token_id: config.eosTokenIds })],
    ]),
  );
  await writeSafetensorsStreaming(join(dir, 'model.safetensors'), model);
}

/** serializeSafetensors' layout (all F32: tensors by name in code-unit order), written without a copy. */
async function writeSafetensorsStreaming(path: string, model: Model): Promise<void> {
  if (!HOST_IS_LITTLE_ENDIAN) throw new Error('init-random writes float32 data as is and needs a little-endian host');
  const tensors = [...weightsToTensors(model)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const parts = ['"__metadata__":{"format":"pt"}'];
  let offset = 0;
  for (const [name, t] of tensors) {
    if (!(t.data instanceof Float32Array)) throw new Error(`tensor "${name}" is not float32`);
    const end = offset + 4 * t.data.length;
    parts.push(`${JSON.stringify(name)}:{"dtype":"F32","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${end}]}`);
    offset = end;
  }
  const header = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const padded = Math.ceil(header.byteLength / 8) * 8;
  const head = Buffer.alloc(8 + padded, 0x20);
  head.writeBigUInt64LE(BigInt(padded), 0);
  header.copy(head, 8);
  const file = await open(path, 'w');
  try {
    await file.write(head);
    for (const [, t] of tensors) await file.write(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  } finally {
    await file.close();
  }
}

export const initRandomCommand: Command = {
  name: 'init-random',
  summary: 'write a Llama model directory with deterministic random weights (benchmarks, tests)',
  usage: `Usage: symbiosis init-random --preset <name> --out <dir> [--seed <n>]

Writes config.json, generation_config.json and model.safetensors (float32) with weights drawn
from a seeded generator: the same preset and seed always give byte-identical files. No tokenizer
is written; drive the model with token ids. Prints the parameter count to stderr.

Presets:
${Object.entries(PRESETS)
  .map(([name, p]) => `  ${name.padEnd(5)}  dim ${p.shape.dim}, ${p.shape.nLayers} layers, ${p.shape.nHeads}/${p.shape.nKvHeads} heads, hidden ${p.shape.hiddenDim}, vocab ${p.shape.vocabSize}${p.shape.tieWordEmbeddings ? ', tied' : ''} — ${p.note}`)
  .join('\n')}

Options:
  --preset <name>   one of ${Object.keys(PRESETS).join(', ')}
  --out <dir>       output directory (created if missing)
  --seed <n>        integer seed (default 0)`,
  async run(argv) {
    const parsed = parseCommand(this, argv, { preset: { type: 'string' }, out: { type: 'string' }, seed: { type: 'string' } });
    if (!parsed) return 0;
    const v = parsed.values;
    const config = presetConfig(requiredString('preset', v.preset));
    const out = requiredString('out', v.out);
    const seed = numberOption('seed', v.seed, z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)) ?? 0;
    const model = randomModel(config, seed);
    await writeRandomModelDir(out, model);
    process.stderr.write(`init-random: ${parameterCount(model.config).toLocaleString('en-US')} parameters (preset ${v.preset}, seed ${seed}) written to ${out}\n`);
    return 0;
  },
};
