import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame, FrameError, MAX_HEADER_BYTES } from './frame';

const LIMIT = 1 << 20;

/** A frame built by hand: header JSON (any text), zero padding to 4 bytes, then `payload`. */
function rawFrame(headerText: string, payload: Uint8Array = new Uint8Array(0), pad = true): Uint8Array {
  const h = new TextEncoder().encode(headerText);
  const start = pad ? (4 + h.length + 3) & ~3 : 4 + h.length;
  const out = new Uint8Array(start + payload.length);
  new DataView(out.buffer).setUint32(0, h.length, true);
  out.set(h, 4);
  out.set(payload, start);
  return out;
}

const rawJson = (header: object, payload?: Uint8Array) => rawFrame(JSON.stringify(header), payload);
const bytesOf = (a: Float32Array | Int32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function rejects(bytes: Uint8Array, message: string | RegExp, maxBytes = LIMIT): void {
  let error: unknown;
  try {
    decodeFrame(bytes, maxBytes);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(FrameError);
  if (typeof message === 'string') expect((error as Error).message).toBe(message);
  else expect((error as Error).message).toMatch(message);
}

describe('frames', () => {
  it('round-trips f32 and i32 tensors with their shapes and the header', () => {
    const x = Float32Array.from({ length: 6 }, (_, i) => i * 0.5 - 1.25);
    x[5] = -0;
    const ids = Int32Array.from([7, -3, 2147483647, -2147483648]);
    const vec = Float32Array.from([Math.PI]);
    // header of odd length, so the padding matters
    const bytes = encodeFrame({ type: 'tap', seq: 3, note: 'ü' }, { x: { data: x, shape: [2, 3] }, ids: { data: ids, shape: [2, 2] }, vec });
    expect(bytes.byteLength % 4).toBe(0);
    const f = decodeFrame(bytes, LIMIT);
    expect(f.header).toEqual({ type: 'tap', seq: 3, note: 'ü' });
    expect([...f.tensors.keys()]).toEqual(['x', 'ids', 'vec']);
    const tx = f.tensors.get('x')!;
    expect(tx.dtype).toBe('f32');
    expect(tx.shape).toEqual([2, 3]);
    expect(tx.data).toBeInstanceOf(Float32Array);
    expect(Array.from(tx.data)).toEqual(Array.from(x));
    expect(Object.is(tx.data[5], -0)).toBe(true);
    const ti = f.tensors.get('ids')!;
    expect(ti.dtype).toBe('i32');
    expect(ti.shape).toEqual([2, 2]);
    expect(ti.data).toBeInstanceOf(Int32Array);
    expect(Array.from(ti.data)).toEqual(Array.from(ids));
    expect(f.tensors.get('vec')!.shape).toEqual([1]);
    expect(f.tensors.get('vec')!.data[0]).toBeCloseTo(Math.PI, 6);
  });

  it('round-trips tensors that are views into a larger buffer, and empty tensors', () => {
    const big = Float32Array.from({ length: 10 }, (_, i) => i);
    const view = big.subarray(3, 7);
    const f = decodeFrame(encodeFrame({ type: 'x' }, { view: { data: view, shape: [4] }, none: { data: new Int32Array(0), shape: [0, 5] } }), LIMIT);
    expect(Array.from(f.tensors.get('view')!.data)).toEqual([3, 4, 5, 6]);
    expect(f.tensors.get('none')!.shape).toEqual([0, 5]);
    expect(f.tensors.get('none')!.data.length).toBe(0);
  });

  it('decoded tensors are views of the frame where aligned: no copy of what a socket delivers', () => {
    const bytes = encodeFrame({ type: 'x' }, { a: Float32Array.from([1, 2]), b: Int32Array.from([3]) });
    const f = decodeFrame(bytes, LIMIT);
    const a = f.tensors.get('a')!.data;
    expect(a.buffer).toBe(bytes.buffer);
    expect(f.tensors.get('b')!.data.buffer).toBe(bytes.buffer);
    bytes.fill(0, bytes.length - 12); // the frame's owner changed its bytes: the views see it
    expect(Array.from(a)).toEqual([0, 0]);
  });

  it('decodes a frame that sits at an unaligned offset of a larger buffer, into copies', () => {
    const bytes = encodeFrame({ type: 'x' }, { a: Int32Array.from([5, 6, 7]), b: Float32Array.from([0.5]) });
    const host = new Uint8Array(bytes.length + 1);
    host.set(bytes, 1);
    const f = decodeFrame(host.subarray(1), LIMIT);
    expect(Array.from(f.tensors.get('a')!.data)).toEqual([5, 6, 7]);
    expect(Array.from(f.tensors.get('b')!.data)).toEqual([0.5]);
    expect(f.tensors.get('a')!.data.buffer).not.toBe(host.buffer);
  });

  it('encodes the header in place: one buffer, the frame exactly as long as its parts', () => {
    const header = { type: 'x', note: 'naïve — 日本語 😀' }; // UTF-8 longer than the UTF-16 length
    const bytes = encodeFrame(header, { a: Float32Array.from([1, 2, 3]) });
    const headerBytes = new TextEncoder().encode(JSON.stringify({ ...header, tensors: [{ name: 'a', dtype: 'f32', shape: [3] }] }));
    expect(new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true)).toBe(headerBytes.length);
    expect(bytes.length).toBe(((4 + headerBytes.length + 3) & ~3) + 12);
    const f = decodeFrame(bytes, LIMIT);
    expect(f.header).toEqual(header);
    expect(Array.from(f.tensors.get('a')!.data)).toEqual([1, 2, 3]);
  });

  it('encoding rejects a shape that does not match the data', () => {
    expect(() => encodeFrame({}, { a: { data: new Float32Array(5), shape: [2, 3] } })).toThrow(/tensor "a": shape \[2,3\] does not match 5 elements/);
  });

  it('rejects a frame over the size limit', () => {
    const bytes = encodeFrame({ type: 'x' }, { a: new Float32Array(100) });
    rejects(bytes, `frame of ${bytes.byteLength} bytes exceeds the limit of 64`, 64);
    expect(() => decodeFrame(bytes, bytes.byteLength)).not.toThrow();
  });

  it('rejects a frame shorter than 4 bytes', () => {
    rejects(new Uint8Array(0), 'frame shorter than its 4-byte header length');
    rejects(new Uint8Array([1, 0, 0]), 'frame shorter than its 4-byte header length');
  });

  it('rejects a header length past the end of the frame', () => {
    const bytes = rawFrame('{"type":"x"}');
    new DataView(bytes.buffer).setUint32(0, bytes.length, true);
    rejects(bytes, 'frame truncated inside its header');
    const huge = new Uint8Array(8);
    new DataView(huge.buffer).setUint32(0, 0xffffffff, true);
    rejects(huge, `frame header of ${0xffffffff} bytes exceeds ${MAX_HEADER_BYTES}`);
  });

  it('rejects a header that is not JSON, not UTF-8, or not an object', () => {
    rejects(rawFrame('{"type":'), 'frame header is not valid UTF-8 JSON');
    const bad = rawFrame('"ab"');
    bad[5] = 0xff; // invalid UTF-8 inside a string
    rejects(bad, 'frame header is not valid UTF-8 JSON');
    for (const text of ['[]', 'null', '42', '"x"']) rejects(rawFrame(text), 'frame header must be a JSON object');
  });

  it('rejects a bad tensor list or spec', () => {
    rejects(rawJson({ tensors: {} }), 'header "tensors" must be an array');
    const bad = [
      { name: 'a', dtype: 'f64', shape: [1] },
      { name: 'a', dtype: 'f32', shape: [-1] },
      { name: 'a', dtype: 'f32', shape: [1.5] },
      { name: 'a', dtype: 'f32', shape: ['2'] },
      { name: 'a', dtype: 'f32', shape: [1, 1, 1, 1, 1] },
      { name: 3, dtype: 'f32', shape: [1] },
      { dtype: 'i32', shape: [1] },
      null,
    ];
    for (const spec of bad) {
      rejects(rawJson({ tensors: [{ name: 'ok', dtype: 'f32', shape: [0] }, spec] }), 'header "tensors"[1] must be { name, dtype: "f32" | "i32", shape: non-negative integers }');
    }
  });

  it('rejects a tensor name used twice', () => {
    const payload = bytesOf(Float32Array.from([1, 2]));
    rejects(rawJson({ tensors: [{ name: 'a', dtype: 'f32', shape: [1] }, { name: 'a', dtype: 'i32', shape: [1] }] }, payload), 'tensor "a" appears twice');
  });

  it('rejects truncated tensor bytes', () => {
    const bytes = encodeFrame({ type: 'x' }, { a: new Float32Array(2), b: new Int32Array(3) });
    rejects(bytes.subarray(0, bytes.length - 4), 'frame truncated inside tensor "b"');
    rejects(bytes.subarray(0, bytes.length - 12), 'frame truncated inside tensor "b"');
    rejects(bytes.subarray(0, bytes.length - 16), 'frame truncated inside tensor "a"');
    // a shape far larger than the frame fails cleanly instead of allocating
    rejects(rawJson({ tensors: [{ name: 'big', dtype: 'f32', shape: [1e6, 1e6, 1e6] }] }), 'frame truncated inside tensor "big"');
  });

  it('rejects bytes past the last tensor', () => {
    const bytes = encodeFrame({ type: 'x' }, { a: new Float32Array(2) });
    const longer = new Uint8Array(bytes.length + 4);
    longer.set(bytes);
    rejects(longer, 'frame has 4 bytes past its last tensor');
    const noTensors = encodeFrame({ type: 'x' });
    const extra = new Uint8Array(noTensors.length + 1);
    extra.set(noTensors);
    rejects(extra, 'frame has 1 bytes past its last tensor');
  });

  it('rejects a frame that stops inside the padding after its header', () => {
    const header = '{"type":"xy"}'; // 4 + 13 bytes → 3 bytes of padding expected
    expect((4 + new TextEncoder().encode(header).length) % 4).not.toBe(0);
    rejects(rawFrame(header, new Uint8Array(0), false), 'frame truncated inside its header padding');
  });
});
