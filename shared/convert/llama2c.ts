/**
 * llama2.c "legacy" checkpoints → Model. Layout (all little-endian):
 *   7 × int32: dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size (negative = untied classifier), seq_len
 *   float32:   token_embedding [vocab, dim]; rms_att [L, dim]; wq [L, dim, dim]; wk [L, kv_dim, dim];
 *              wv [L, kv_dim, dim]; wo [L, dim, dim]; rms_ffn [L, dim]; w1 [L, hidden, dim];
 *              w2 [L, dim, hidden]; w3 [L, hidden, dim]; rms_final [dim];
 *              freq_cis_real, freq_cis_imag [seq_len, head_size/2] (unused);  wcls [vocab, dim] if untied
 * llama2.c rotates interleaved pairs (0,1),(2,3)… of each head; HF Llama pairs i with i + head_dim/2.
 * permuteForHfRope reorders the rows of wq and wk so that the HF convention computes the same thing.
 */
import type { LayerWeights, Model, ModelConfig } from '../model/types';

export class Llama2cFormatError extends Error {}

const HEADER_INTS = 7;

export function parseLlama2cCheckpoint(bytes: Uint8Array): Model {
  if (bytes.byteLength < HEADER_INTS * 4) throw new Llama2cFormatError(`checkpoint is ${bytes.byteLength} bytes, shorter than its 28-byte header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, signedVocab, seqLen] = Array.from({ length: HEADER_INTS }, (_, i) => view.getInt32(i * 4, true));
  const vocabSize = Math.abs(signedVocab);
  const header = { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, seqLen };
  for (const [k, v] of Object.entries(header)) {
    if (!(v > 0 && v < 1 << 24)) throw new Llama2cFormatError(`checkpoint header field ${k} = ${v} is not a plausible size`);
  }
  if (dim % nHeads !== 0 || nHeads % nKvHeads !== 0) throw new Llama2cFormatError(`checkpoint header: dim ${dim}, n_heads ${nHeads}, n_kv_heads ${nKvHeads} are inconsistent`);
  const headDim = dim / nHeads;
  const kvDim = nKvHeads * headDim;
  const tied = signedVocab > 0;

  const config: ModelConfig = {
    architecture: 'LlamaForCausalLM',
    dim, hiddenDim, nLayers, nHeads, nKvHeads, headDim, vocabSize,
    maxSeqLen: seqLen,
    ropeTheta: 10000,
    rmsNormEps: 1e-5,
    tieWordEmbeddings: tied,
    attentionBias: false,
    bosTokenId: 1,
    // llama2.c stops when the model emits BOS (1), which its stories use as a separator; 2 is </s>.
    eosTokenIds: [1, 2],
  };

  const weightFloats =
    vocabSize * dim + nLayers * (2 * dim + 2 * dim * dim + 2 * kvDim * dim + 3 * hiddenDim * dim) + dim;
  const ropeFloats = seqLen * headDim; // real + imag, each [seq_len, head_dim/2]
  const expectedFloats = weightFloats + ropeFloats + (tied ? 0 : vocabSize * dim);
  const haveFloats = (bytes.byteLength - HEADER_INTS * 4) / 4;
  if (haveFloats !== expectedFloats) {
    throw new Llama2cFormatError(`checkpoint holds ${haveFloats} floats after its header; its header implies ${expectedFloats}`);
  }
  // Copy once into an aligned array (the header is 28 bytes, so the floats are not 4-aligned in general).
  const floats = new Float32Array(haveFloats);
  new Uint8Array(floats.buffer).set(bytes.subarray(HEADER_INTS * 4));
  let offset = 0;
  const take = (n: number): Float32Array => floats.subarray(offset, (offset += n));

  const embed = take(vocabSize * dim);
  const perLayer = (n: number) => Array.from({ length: nLayers }, () => take(n));
  const rmsAtt = perLayer(dim);
  const wq = perLayer(dim * dim);
  const wk = perLayer(kvDim * dim);
  const wv = perLayer(kvDim * dim);
  const wo = perLayer(dim * dim);
  const rmsFfn = perLayer(dim);
  const w1 = perLayer(hiddenDim * dim);
  const w2 = perLayer(dim * hiddenDim);
  const w3 = perLayer(hiddenDim * dim);
  const finalNorm = take(dim);
  take(ropeFloats);
  const lmHead = tied ? embed : take(vocabSize * dim);

  const layers: LayerWeights[] = Array.from({ length: nLayers }, (_, l) => ({
    attnNorm: rmsAtt[l],
    wq: permuteForHfRope(wq[l], nHeads, headDim, dim),
    wk: permuteForHfRope(wk[l], nKvHeads, headDim, dim),
    wv: wv[l],
    wo: wo[l],
    mlpNorm: rmsFfn[l],
    wGate: w1[l],
    wUp: w3[l],
    wDown: w2[l],
  }));
  return { config, weights: { embed, layers, finalNorm, lmHead } };
}

/**
 * Within each head, row 2i+t of the interleaved layout moves to row t·(headDim/2)+i
 * (HF's convert_llama_weights_to_hf.py `permute`). W: [nHeads·headDim, cols].
 */
export function permuteForHfRope(w: Float32Array, nHeads: number, headDim: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  const half = headDim / 2;
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < half; i++) {
      for (let t = 0; t < 2; t++) {
        const from = (h * headDim + 2 * i + t) * cols;
        const to = (h * headDim + t * half + i) * cols;
        out.set(w.subarray(from, from + cols), to);
      }
    }
  }
  return out;
}
