/**
 * Tokenizers: llama2.c vocabularies (parsing, the reference encoder, conversion to Hugging Face
 * tokenizer files) and the Tokenizer used in production, built on @huggingface/tokenizers.
 */
export { type Llama2cVocab, TokenizerFormatError, parseLlama2cTokenizer, encodeLlama2c, LLAMA2C_BOS_ID, LLAMA2C_EOS_ID } from './llama2c';
export { type HfTokenizerFiles, type BuildHfTokenizerOptions, buildHfTokenizerFiles, deriveMerges, hfPieces } from './hf-json';
export { type ChatMessage, ChatTemplateError, Tokenizer } from './tokenizer';
export { type StreamDecoderOptions, StreamDecoder, createStreamDecoder } from './stream-decoder';
