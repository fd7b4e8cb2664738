import { baseFromModel, mergeAdapter } from '../shared/adapters';
import { weightsToTensors } from '../shared/model/weights';
import { folderSource, writeFolder } from '../shared/node/files';
import { serializeSafetensors } from '../shared/safetensors';
import { parseCommand, requiredString, type Command } from './args';
import { loadAdapterDir, loadModelAndTokenizer } from './load';

// Everything but the weights is copied unchanged from the base model directory.
const COPIED_FILES = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];

export const mergeCommand: Command = {
  name: 'merge',
  summary: 'fold a LoRA, DoRA or IA3 adapter into the base weights',
  usage: `Usage: symbiosis merge --model <hf-dir> --adapter <peft-dir> --out <hf-dir>

Writes a complete model directory whose weights have the adapter folded in
(prompt tuning adds virtual tokens and cannot be merged).`,
  async run(argv) {
    const parsed = parseCommand(this, argv, { model: { type: 'string' }, adapter: { type: 'string' }, out: { type: 'string' } });
    if (!parsed) return 0;
    const modelDir = requiredString('model', parsed.values.model);
    const adapterDir = requiredString('adapter', parsed.values.adapter);
    const outDir = requiredString('out', parsed.values.out);
    const { model } = await loadModelAndTokenizer(modelDir);
    const merged = mergeAdapter(model, await loadAdapterDir(adapterDir, baseFromModel(model)));
    const files = new Map<string, Uint8Array | string>();
    const source = folderSource(modelDir);
    for (const name of COPIED_FILES) {
      const bytes = await source.read(name);
      if (bytes) files.set(name, bytes);
    }
    files.set('model.safetensors', serializeSafetensors(weightsToTensors(merged), { format: 'pt' }));
    await writeFolder(outDir, files);
    process.stderr.write(`wrote the merged model to ${outDir}\n`);
    return 0;
  },
};
