import { z } from 'zod';
import { baseFromModel, type PeftAdapter } from '../shared/adapters';
import type { ModelConfig } from '../shared/model/types';
import { generate } from '../shared/reference';
import { createStreamDecoder, Tokenizer } from '../shared/tokenizer';
import { numberOption, parseCommand, UsageError, type Command } from './args';
import { loadAdapterDir, loadModelAndTokenizer } from './load';
import { generateSplit, serverModel } from './split-generate';

export const generateCommand: Command = {
  name: 'generate',
  summary: 'generate text from a prompt, in process or through a base-model server (split execution)',
  usage: `Usage: symbiosis generate (--model <hf-dir> | --server <url> --secret <s>) --prompt <text> [options]

Prints the prompt followed by the continuation to stdout, and nothing else;
diagnostics go to stderr. Generation stops at an end-of-sequence token.

Options:
  --model <dir>        Hugging Face model directory (config.json, model.safetensors, tokenizer.json)
  --server <url>       a running \`symbiosis serve\` (ws://host:port or http://host:port): the base
                       model runs there, the adapter here, applied at the taps (split execution)
  --secret <s>         the server's session secret, to mint a development token (default: $SESSION_SECRET)
  --prompt <text>      the prompt (a BOS token is prepended)
  --max-tokens <n>     generated tokens at most, prompt not counted (default 256)
  --temperature <t>    0 = greedy (default 1.0)
  --top-p <p>          nucleus sampling mass, 0 < p ≤ 1 (default 0.9)
  --top-k <k>          sample among the k likeliest tokens only (default: all)
  --seed <s>           sampling seed, for reproducible output (default: from the clock)
  --adapter <dir>      PEFT adapter directory (adapter_config.json, adapter_model.safetensors);
                       with --server, DoRA needs --model too (its norms come from the base weights)`,
  async run(argv) {
    const parsed = parseCommand(this, argv, {
      model: { type: 'string' },
      server: { type: 'string' },
      secret: { type: 'string' },
      prompt: { type: 'string' },
      'max-tokens': { type: 'string' },
      temperature: { type: 'string' },
      'top-p': { type: 'string' },
      'top-k': { type: 'string' },
      seed: { type: 'string' },
      adapter: { type: 'string' },
    });
    if (!parsed) return 0;
    const v = parsed.values as Record<string, string | undefined>;
    if (v.prompt === undefined) throw new UsageError('--prompt is required');
    if (!v.model && !v.server) throw new UsageError('--model or --server is required');
    const prompt = v.prompt;
    const maxTokens = numberOption('max-tokens', v['max-tokens'], z.number().int().min(0)) ?? 256;
    const sampling = {
      temperature: numberOption('temperature', v.temperature, z.number().min(0)) ?? 1.0,
      topP: numberOption('top-p', v['top-p'], z.number().gt(0).max(1)) ?? 0.9,
      topK: numberOption('top-k', v['top-k'], z.number().int().min(1)),
      seed: numberOption('seed', v.seed, z.number().int().min(0).max(2 ** 32 - 1)) ?? Date.now() % 2 ** 32,
    };

    const local = v.model ? await loadModelAndTokenizer(v.model) : undefined;
    const remote = v.server ? await serverModel(v.server) : undefined;
    const config: ModelConfig = remote?.config ?? local!.model.config;
    const tokenizer: Tokenizer = local?.tokenizer ?? remote!.tokenizer;
    let adapter: PeftAdapter | undefined;
    if (v.adapter) adapter = await loadAdapterDir(v.adapter, local ? baseFromModel(local.model) : { config });

    const promptIds = tokenizer.encode(prompt);
    if (promptIds.length + maxTokens > config.maxSeqLen) {
      throw new Error(`prompt (${promptIds.length} tokens) + --max-tokens ${maxTokens} exceeds the model's context of ${config.maxSeqLen}`);
    }
    const decoder = createStreamDecoder(tokenizer, promptIds);
    const onToken = (id: number) => process.stdout.write(decoder.push(id));
    process.stdout.write(prompt);
    if (v.server) {
      const secret = v.secret ?? process.env.SESSION_SECRET;
      if (!secret) throw new UsageError('--server needs --secret (or SESSION_SECRET) to mint a session token');
      await generateSplit({ server: v.server, secret, config, promptIds, maxTokens, sampling, adapter, onToken });
    } else {
      generate({ model: local!.model, promptIds, maxTokens, sampling, stopIds: config.eosTokenIds, adapter, onToken });
    }
    process.stdout.write(decoder.flush() + '\n');
    return 0;
  },
};
