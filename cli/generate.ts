import { z } from 'zod';
import { generate } from '../shared/reference';
import { createStreamDecoder } from '../shared/tokenizer';
import { numberOption, parseCommand, requiredString, type Command } from './args';
import { loadAdapterDir, loadModelAndTokenizer } from './load';

export const generateCommand: Command = {
  name: 'generate',
  summary: 'generate text from a prompt with a model (and optionally a PEFT adapter)',
  usage: `Usage: symbiosis generate --model <hf-dir> --prompt <text> [options]

Prints the prompt followed by the continuation to stdout, and nothing else;
diagnostics go to stderr. Generation stops at an end-of-sequence token.

Options:
  --model <dir>        Hugging Face model directory (config.json, model.safetensors, tokenizer.json)
  --prompt <text>      the prompt (a BOS token is prepended)
  --max-tokens <n>     generated tokens at most, prompt not counted (default 256)
  --temperature <t>    0 = greedy (default 1.0)
  --top-p <p>          nucleus sampling mass, 0 < p ≤ 1 (default 0.9)
  --top-k <k>          sample among the k likeliest tokens only (default: all)
  --seed <s>           sampling seed, for reproducible output (default: from the clock)
  --adapter <dir>      PEFT adapter directory (adapter_config.json, adapter_model.safetensors)`,
  async run(argv) {
    const parsed = parseCommand(this, argv, {
      model: { type: 'string' },
      prompt: { type: 'string' },
      'max-tokens': { type: 'string' },
      temperature: { type: 'string' },
      'top-p': { type: 'string' },
      'top-k': { type: 'string' },
      seed: { type: 'string' },
      adapter: { type: 'string' },
    });
    if (!parsed) return 0;
    const v = parsed.values;
    const modelDir = requiredString('model', v.model);
    if (typeof v.prompt !== 'string') throw new Error('--prompt is required');
    const prompt = v.prompt;
    const maxTokens = numberOption('max-tokens', v['max-tokens'], z.number().int().min(0)) ?? 256;
    const sampling = {
      temperature: numberOption('temperature', v.temperature, z.number().min(0)) ?? 1.0,
      topP: numberOption('top-p', v['top-p'], z.number().gt(0).max(1)) ?? 0.9,
      topK: numberOption('top-k', v['top-k'], z.number().int().min(1)),
      seed: numberOption('seed', v.seed, z.number().int().min(0)) ?? Date.now() % 2 ** 32,
    };

    const { model, tokenizer } = await loadModelAndTokenizer(modelDir);
    const adapter = typeof v.adapter === 'string' ? await loadAdapterDir(v.adapter, model) : undefined;
    const promptIds = tokenizer.encode(prompt);
    if (promptIds.length + maxTokens > model.config.maxSeqLen) {
      throw new Error(`prompt (${promptIds.length} tokens) + --max-tokens ${maxTokens} exceeds the model's context of ${model.config.maxSeqLen}`);
    }
    const decoder = createStreamDecoder(tokenizer, promptIds);
    process.stdout.write(prompt);
    generate({
      model,
      promptIds,
      maxTokens,
      sampling,
      stopIds: model.config.eosTokenIds,
      adapter,
      onToken: (id) => process.stdout.write(decoder.push(id)),
    });
    process.stdout.write('\n');
    return 0;
  },
};
