/** Node-side loading of a model directory and a PEFT adapter directory for CLI commands. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadModelDirectory } from '../shared/model/directory';
import type { Model } from '../shared/model/types';
import { folderSource } from '../shared/node/files';
import { Tokenizer } from '../shared/tokenizer';
import { readPeftAdapter, type BaseModel, type PeftAdapter } from '../shared/adapters';

export async function loadModelAndTokenizer(dir: string): Promise<{ model: Model; tokenizer: Tokenizer }> {
  const loaded = await loadModelDirectory(folderSource(dir));
  if (loaded.tokenizerJson === undefined) throw new Error(`${dir}: tokenizer.json is missing`);
  return { model: loaded.model, tokenizer: Tokenizer.fromFiles(loaded.tokenizerJson as object, loaded.tokenizerConfig as object | undefined) };
}

async function readOrExplain(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as Error).message}`);
  }
}

/** A PEFT adapter directory, validated against the base (DoRA needs the base weights for its norms). */
export async function loadAdapterDir(dir: string, base: BaseModel): Promise<PeftAdapter> {
  const configText = new TextDecoder().decode(await readOrExplain(join(dir, 'adapter_config.json')));
  let configJson: unknown;
  try {
    configJson = JSON.parse(configText);
  } catch (e) {
    throw new Error(`${join(dir, 'adapter_config.json')}: invalid JSON (${(e as Error).message})`);
  }
  const weights = await readOrExplain(join(dir, 'adapter_model.safetensors'));
  return readPeftAdapter(configJson, weights, base);
}
