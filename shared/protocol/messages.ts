/**
 * The split-execution protocol's messages (frame headers), defined once for both sides.
 * Every object is strict: a field the receiver does not know is rejected by name.
 * Tensors travel in the frame's payload (frame.ts); each message lists the ones it carries.
 */
import { z } from 'zod';
import { MODULE_NAMES, TAP_NAMES } from '../adapters/taps';

export const PROTOCOL_VERSION = 1;

const int = z.number().int();
const nonNegative = int.nonnegative();

/** One module an adapter acts on; `form` and `needsBaseOutput` follow ModuleAdapter. */
export const TapPlanEntrySchema = z.strictObject({
  layer: nonNegative,
  module: z.enum(MODULE_NAMES),
  form: z.enum(['output', 'input']),
  needsBaseOutput: z.boolean(),
});
export type TapPlanEntry = z.infer<typeof TapPlanEntrySchema>;

export const SamplingSchema = z.strictObject({
  temperature: z.number().min(0).max(100).default(1),
  topP: z.number().gt(0).max(1).default(1),
  topK: int.positive().optional(),
  seed: nonNegative.max(2 ** 32 - 1).optional(),
});
export type Sampling = z.infer<typeof SamplingSchema>;

// ── client → server ────────────────────────────────────────────────────────────────────────────

/** Tensors: `prompt` f32 [promptTokens, dim] when promptTokens > 0 (prompt tuning). */
export const OpenSchema = z.strictObject({
  type: z.literal('open'),
  v: z.literal(PROTOCOL_VERSION),
  token: z.string().min(1).max(4096),
  mode: z.enum(['inference', 'training']),
  maxContext: int.positive(),
  taps: z.array(TapPlanEntrySchema).max(4096),
  promptTokens: nonNegative.default(0),
  sampling: SamplingSchema.optional(),
});

/**
 * One step. Tensors: `tokens` i32 [rows]; in training mode also `targets` i32 [rows] and
 * `mask` f32 [rows] (1 where the position counts towards the loss). Inference appends to the
 * session's KV cache and samples one token from the last row; training runs one whole sequence.
 */
export const ForwardSchema = z.strictObject({
  type: z.literal('forward'),
  seq: nonNegative,
  logprobs: int.min(0).max(20).default(0),
  returnLogits: z.boolean().default(false),
});

/**
 * The client's answer at a tap. Forward, output form: tensor `<module>` f32 [rows, out], the
 * adapter's change y − y0. Forward, input form: `<module>` f32 [rows, in], the replacement input.
 * Backward: `dx` f32 [rows, in] (the adapter's own dL/dx, optional), `<module>.dy0` f32
 * [rows, out] (dL/dy0 where it differs from dL/dy, for modules with needsBaseOutput), or for the
 * input form `<module>` f32 [rows, in] = dL/dx through the adapter.
 */
export const TapResultSchema = z.strictObject({
  type: z.literal('tap_result'),
  seq: nonNegative,
  layer: nonNegative,
  tap: z.enum(TAP_NAMES),
  phase: z.enum(['forward', 'backward']),
});

/** Training: run the backward pass of the last forward (whose loss the client has). */
export const BackwardSchema = z.strictObject({ type: z.literal('backward'), seq: nonNegative });

export const CloseSchema = z.strictObject({ type: z.literal('close') });

export const ClientMessageSchema = z.discriminatedUnion('type', [OpenSchema, ForwardSchema, TapResultSchema, BackwardSchema, CloseSchema]);
export type ClientMessage = z.infer<typeof ClientMessageSchema>;

// ── server → client ────────────────────────────────────────────────────────────────────────────

export const OpenedSchema = z.strictObject({
  type: z.literal('opened'),
  v: z.literal(PROTOCOL_VERSION),
  session: z.string(),
  maxContext: int.positive(),
  vocabSize: int.positive(),
  dim: int.positive(),
});

/**
 * The server paused at a tap. Forward: `x` f32 [rows, in], plus `<module>.y0` f32 [rows, out]
 * for modules with needsBaseOutput (output form only). Backward: for output-form modules
 * `<module>` f32 [rows, out] = dL/dy; for an input-form module `<module>` f32 [rows, in] (the
 * gradient w.r.t. the replacement input). The client answers with a tap_result.
 */
export const TapSchema = z.strictObject({
  type: z.literal('tap'),
  seq: nonNegative,
  layer: nonNegative,
  tap: z.enum(TAP_NAMES),
  phase: z.enum(['forward', 'backward']),
  form: z.enum(['output', 'input']),
  rows: int.positive(),
});

const TopLogprobSchema = z.strictObject({ token: nonNegative, logprob: z.number() });

/**
 * The end of a forward. Inference: the sampled `token` from the last row, with its logprob and
 * the top alternatives when asked; training: the mean masked cross-entropy `loss` and the
 * number of positions it averaged. Tensors: `logits` f32 [rows, vocab] when returnLogits.
 */
export const ResultSchema = z.strictObject({
  type: z.literal('result'),
  seq: nonNegative,
  position: nonNegative,
  token: nonNegative.optional(),
  logprob: z.number().optional(),
  topLogprobs: z.array(TopLogprobSchema).optional(),
  loss: z.number().optional(),
  lossTokens: nonNegative.optional(),
});

/** The end of a backward. Tensors: `prompt` f32 [promptTokens, dim], dL/d(virtual tokens), when prompt tuning. */
export const BackwardResultSchema = z.strictObject({ type: z.literal('backward_result'), seq: nonNegative });

export const ERROR_CODES = [
  'bad_frame', // malformed, truncated, oversize, wrong shapes or dtypes, NaN/Inf
  'bad_request', // a message out of place: taps out of order, unknown session, wrong seq
  'unauthorized', // missing, expired, tampered or replayed token
  'limit_exceeded', // per-tenant session, context or memory caps
  'expired', // the session sat idle too long
  'shutting_down', // the server is stopping
  'internal',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** Fatal for the session: the server closes it after sending this. */
export const ErrorSchema = z.strictObject({ type: z.literal('error'), code: z.enum(ERROR_CODES), message: z.string(), seq: nonNegative.optional() });

export const ServerMessageSchema = z.discriminatedUnion('type', [OpenedSchema, TapSchema, ResultSchema, BackwardResultSchema, ErrorSchema]);
export type ServerMessage = z.infer<typeof ServerMessageSchema>;

/** A schema's issues as one line that names the offending field. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => {
      const where = i.path.join('.');
      if (i.code === 'unrecognized_keys') return `unsupported field${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `"${where ? `${where}.` : ''}${k}"`).join(', ')}`;
      return `${where || 'message'}: ${i.message}`;
    })
    .join('; ');
}
