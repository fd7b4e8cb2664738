/**
 * What a base-model server serves, from its public HTTP routes (/v1/info, /v1/tokenizer, /v1/weights): the
 * model's name, config and tokenizer, and the frozen weights DoRA needs. Web-standard fetch only: the edge and the CLI both use it.
 */
import type { FrozenWeight } from '../adapters/frozen-base';
import { parseHfConfig, toHfConfig } from '../model/config';
import { parseSafetensors, tensorToFloat32 } from '../safetensors';
import type { ModelConfig } from '../model/types';
import { Tokenizer } from '../tokenizer';

export interface ServedModel {
  /** The `model` id of the base model itself. */
  name: string;
  config: ModelConfig;
  tokenizer: Tokenizer;
}

async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url).catch((e: Error) => {
    throw new Error(`cannot reach ${url}: ${e.message}`);
  });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.json();
}

/** `httpBase`: the server's http(s)://host:port. */
export async function fetchServedModel(httpBase: string): Promise<ServedModel> {
  const info = (await getJson(`${httpBase}/v1/info`)) as { name: string; model: ModelConfig };
  const tok = (await getJson(`${httpBase}/v1/tokenizer`)) as { tokenizerJson: object; tokenizerConfig?: object };
  const config = parseHfConfig(toHfConfig(info.model), { bos_token_id: info.model.bosTokenId, eos_token_id: info.model.eosTokenIds });
  return { name: info.name, config, tokenizer: Tokenizer.fromFiles(tok.tokenizerJson, tok.tokenizerConfig) };
}

/** The frozen weights from a base-model server's public GET /v1/weights/{layer}/{module}. */
export function weightsFromServer(httpBase: string): FrozenWeight {
  return async (layer, module) => {
    const res = await fetch(`${httpBase}/v1/weights/${layer}/${module}`);
    if (!res.ok) throw new Error(`fetching the frozen weights of ${module}, layer ${layer}: HTTP ${res.status}`);
    const file = parseSafetensors(new Uint8Array(await res.arrayBuffer()));
    const bias = file.tensors.get('bias');
    return { weight: tensorToFloat32(file.tensors.get('weight')!), bias: bias && tensorToFloat32(bias) };
  };
}
