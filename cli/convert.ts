import { readFile } from 'node:fs/promises';
import { convertLlama2c } from '../shared/convert';
import { writeFolder } from '../shared/node/files';
import { parseCommand, type Command } from './args';

export const convertCommand: Command = {
  name: 'convert-llama2c',
  summary: 'convert a llama2.c checkpoint + tokenizer into a Hugging Face model directory',
  usage: `Usage: symbiosis convert-llama2c <checkpoint.bin> <tokenizer.bin> <out-dir>

Writes config.json, generation_config.json, model.safetensors, tokenizer.json,
tokenizer_config.json and special_tokens_map.json into <out-dir>. The query and key
projections are permuted from llama2.c's interleaved RoPE to Hugging Face's layout.`,
  async run(argv) {
    const parsed = parseCommand(this, argv, {}, 3);
    if (!parsed) return 0;
    const [checkpoint, tokenizer, outDir] = parsed.positionals;
    const files = convertLlama2c(new Uint8Array(await readFile(checkpoint)), new Uint8Array(await readFile(tokenizer)));
    await writeFolder(outDir, files);
    process.stderr.write(`wrote ${[...files.keys()].join(', ')} to ${outDir}\n`);
    return 0;
  },
};
