import { describe, expect, it } from 'vitest';
import { ClientMessageSchema, describeIssues, PROTOCOL_VERSION, ServerMessageSchema } from './messages';

const open = {
  type: 'open',
  v: PROTOCOL_VERSION,
  token: 'a.b',
  mode: 'inference',
  maxContext: 32,
  taps: [{ layer: 0, module: 'q_proj', form: 'output', needsBaseOutput: false }],
};

function issues(msg: unknown): string {
  const r = ClientMessageSchema.safeParse(msg);
  expect(r.success).toBe(false);
  return describeIssues(r.error!);
}

describe('client messages', () => {
  it('accepts each valid message, filling defaults', () => {
    const o = ClientMessageSchema.parse({ ...open, sampling: { temperature: 0.7, topK: 5, seed: 3 } });
    expect(o).toMatchObject({ type: 'open', promptTokens: 0, sampling: { temperature: 0.7, topP: 1, topK: 5, seed: 3 } });
    expect(ClientMessageSchema.parse({ type: 'forward', seq: 0 })).toEqual({ type: 'forward', seq: 0, logprobs: 0, returnLogits: false });
    expect(ClientMessageSchema.parse({ type: 'forward', seq: 4, logprobs: 20, returnLogits: true })).toMatchObject({ logprobs: 20 });
    const tap = { type: 'tap_result', seq: 1, layer: 1, tap: 'mlp.out', phase: 'backward' };
    expect(ClientMessageSchema.parse(tap)).toEqual(tap);
    expect(ClientMessageSchema.parse({ type: 'backward', seq: 2 })).toEqual({ type: 'backward', seq: 2 });
    expect(ClientMessageSchema.parse({ type: 'close' })).toEqual({ type: 'close' });
    expect(ClientMessageSchema.parse({ ...open, mode: 'training', taps: [], promptTokens: 3 })).toMatchObject({ promptTokens: 3 });
  });

  it('rejects an unknown field by name', () => {
    expect(issues({ type: 'close', foo: 1 })).toBe('unsupported field "foo"');
    expect(issues({ type: 'forward', seq: 0, foo: 1, bar: 2 })).toBe('unsupported fields "foo", "bar"');
    expect(issues({ ...open, taps: [{ ...open.taps[0], foo: true }] })).toContain('unsupported field "taps.0.foo"');
    expect(issues({ ...open, sampling: { foo: 1 } })).toContain('unsupported field "sampling.foo"');
  });

  it('rejects a wrong protocol version', () => {
    const text = issues({ ...open, v: PROTOCOL_VERSION + 1 });
    expect(text).toMatch(/^v: /);
    expect(text).toContain(String(PROTOCOL_VERSION));
  });

  it('rejects an unknown module or form in a tap plan, naming where', () => {
    expect(issues({ ...open, taps: [{ ...open.taps[0], module: 'lm_head' }] })).toMatch(/^taps\.0\.module: /);
    expect(issues({ ...open, taps: [open.taps[0], { ...open.taps[0], form: 'sideways' }] })).toMatch(/^taps\.1\.form: /);
    expect(issues({ ...open, taps: [{ ...open.taps[0], layer: -1 }] })).toMatch(/^taps\.0\.layer: /);
    expect(issues({ ...open, taps: [{ ...open.taps[0], layer: 0.5 }] })).toMatch(/^taps\.0\.layer: /);
  });

  it('rejects an unknown type, missing or out-of-range fields', () => {
    expect(issues({ type: 'hello' })).toMatch(/^type: /);
    expect(issues({ seq: 0 })).toMatch(/^type: /);
    expect(issues({ type: 'forward' })).toMatch(/^seq: /);
    expect(issues({ type: 'forward', seq: -1 })).toMatch(/^seq: /);
    expect(issues({ type: 'forward', seq: 0, logprobs: 21 })).toMatch(/^logprobs: /);
    expect(issues({ type: 'tap_result', seq: 0, layer: 0, tap: 'attn.mid', phase: 'forward' })).toMatch(/^tap: /);
    expect(issues({ ...open, maxContext: 0 })).toMatch(/^maxContext: /);
    expect(issues({ ...open, token: '' })).toMatch(/^token: /);
    expect(issues({ ...open, mode: 'chat' })).toMatch(/^mode: /);
    expect(issues({ ...open, sampling: { topP: 0 } })).toMatch(/^sampling\.topP: /);
  });

  it('joins several issues with "; "', () => {
    const text = issues({ type: 'tap_result', seq: -1, layer: 0, tap: 'nope', phase: 'forward', extra: 1 });
    expect(text.split('; ').length).toBeGreaterThanOrEqual(2);
  });
});

describe('server messages', () => {
  it('accepts an error with a known code and rejects an unknown code', () => {
    expect(ServerMessageSchema.parse({ type: 'error', code: 'bad_frame', message: 'x', seq: 2 })).toMatchObject({ code: 'bad_frame' });
    expect(ServerMessageSchema.safeParse({ type: 'error', code: 'oops', message: 'x' }).success).toBe(false);
  });
});
