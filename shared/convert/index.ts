/**
 * llama2.c checkpoint + tokenizer → a complete Hugging Face model directory, as files in memory.
 * The result loads through the same code as any HF model (shared/model/directory).
 */
import { parseLlama2cCheckpoint } from './llama2c';
import { toHfConfig } from '../model/config';
import { weightsToTensors } from '../model/weights';
import { serializeSafetensors } from '../safetensors';
import { buildHfTokenizerFiles, parseLlama2cTokenizer } from '../tokenizer';

export { parseLlama2cCheckpoint, permuteForHfRope, Llama2cFormatError } from './llama2c';

const json = (value: unknown) => JSON.stringify(value, null, 2) + '\n';

export function convertLlama2c(checkpoint: Uint8Array, tokenizerBin: Uint8Array): Map<string, Uint8Array | string> {
  const model = parseLlama2cCheckpoint(checkpoint);
  const { config } = model;
  const vocab = parseLlama2cTokenizer(tokenizerBin, config.vocabSize);
  const tokenizer = buildHfTokenizerFiles(vocab, { modelMaxLength: config.maxSeqLen });
  const { eos_token_id: _eos, ...hfConfig } = toHfConfig(config);
  return new Map<string, Uint8Array | string>([
    // config.json names </s> as EOS, as HF Llama does; generation stops at BOS too (llama2.c's rule).
    ['config.json', json({ ...hfConfig, eos_token_id: 2 })],
    ['generation_config.json', json({ bos_token_id: config.bosTokenId, eos_token_id: config.eosTokenIds })],
    ['model.safetensors', serializeSafetensors(weightsToTensors(model), { format: 'pt', source: 'llama2.c' })],
    ['tokenizer.json', json(tokenizer.tokenizerJson)],
    ['tokenizer_config.json', json(tokenizer.tokenizerConfig)],
    ['special_tokens_map.json', json(tokenizer.specialTokensMap)],
  ]);
}
