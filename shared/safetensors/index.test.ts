import { describe, expect, it } from 'vitest';
import {
  MAX_HEADER_BYTES,
  SafetensorsError,
  float16BitsToFloat32,
  bfloat16BitsToFloat32,
  parseSafetensors,
  serializeSafetensors,
  tensorToFloat32,
  type TensorToWrite,
} from './index';

/** A file assembled by hand from a header text and data bytes (not by the writer). */
function file(header: string, data: Uint8Array | number = 0, declaredLength?: number): Uint8Array {
  const headerBytes = new TextEncoder().encode(header);
  const dataBytes = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + headerBytes.length + dataBytes.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(declaredLength ?? headerBytes.length), true);
  out.set(headerBytes, 8);
  out.set(dataBytes, 8 + headerBytes.length);
  return out;
}

function entry(dtype: unknown, shape: unknown, offsets: unknown): string {
  return JSON.stringify({ dtype, shape, data_offsets: offsets });
}

function expectError(bytes: Uint8Array, message: RegExp): void {
  expect(() => parseSafetensors(bytes)).toThrow(SafetensorsError);
  expect(() => parseSafetensors(bytes)).toThrow(message);
}

const bits32 = (a: Float32Array) => Array.from(new Uint32Array(a.slice().buffer));
const u16 = (bytes: Uint8Array) => Array.from({ length: bytes.length / 2 }, (_, i) => bytes[2 * i] | (bytes[2 * i + 1] << 8));

describe('parseSafetensors on a hand-built file', () => {
  // 197 bytes of header, then F32 [1, -2.5], F16 [1, 65504], BF16 [[-2.5]].
  const header =
    '{"__metadata__":{"format":"pt"},' +
    '"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
    '"h":{"dtype":"F16","shape":[2],"data_offsets":[8,12]},' +
    '"b":{"dtype":"BF16","shape":[1,1],"data_offsets":[12,14]}}';
  const bytes = new Uint8Array([
    197, 0, 0, 0, 0, 0, 0, 0,
    ...Array.from(header, (c) => c.charCodeAt(0)),
    0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0, // F32 1, -2.5
    0x00, 0x3c, 0xff, 0x7b, // F16 1, 65504
    0x20, 0xc0, // BF16 -2.5
  ]);

  it('reads tensors, dtypes, shapes, values and metadata', () => {
    expect(header.length).toBe(197);
    const { tensors, metadata } = parseSafetensors(bytes);
    expect(metadata).toEqual({ format: 'pt' });
    expect([...tensors.keys()]).toEqual(['w', 'h', 'b']);
    expect(tensors.get('w')).toMatchObject({ dtype: 'F32', shape: [2] });
    expect(tensors.get('h')).toMatchObject({ dtype: 'F16', shape: [2] });
    expect(tensors.get('b')).toMatchObject({ dtype: 'BF16', shape: [1, 1] });
    expect(Array.from(tensorToFloat32(tensors.get('w')!))).toEqual([1, -2.5]);
    expect(Array.from(tensorToFloat32(tensors.get('h')!))).toEqual([1, 65504]);
    expect(Array.from(tensorToFloat32(tensors.get('b')!))).toEqual([-2.5]);
  });

  it('returns views into the file, not copies', () => {
    const w = parseSafetensors(bytes).tensors.get('w')!;
    expect(w.bytes.buffer).toBe(bytes.buffer);
    expect(w.bytes.byteOffset).toBe(8 + 197);
    expect(w.bytes.byteLength).toBe(8);
  });

  it('reads a file that is a view at an odd offset into a larger buffer', () => {
    const big = new Uint8Array(bytes.length + 3);
    big.set(bytes, 1);
    const { tensors } = parseSafetensors(big.subarray(1, 1 + bytes.length));
    expect(Array.from(tensorToFloat32(tensors.get('w')!))).toEqual([1, -2.5]);
    expect(Array.from(tensorToFloat32(tensors.get('h')!))).toEqual([1, 65504]);
    expect(Array.from(tensorToFloat32(tensors.get('b')!))).toEqual([-2.5]);
  });

  it('matches the writer byte for byte on a small file', () => {
    const written = serializeSafetensors({ a: { shape: [1], data: Float32Array.of(1) } });
    const expected = new Uint8Array([
      56, 0, 0, 0, 0, 0, 0, 0,
      ...Array.from('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}  ', (c) => c.charCodeAt(0)),
      0x00, 0x00, 0x80, 0x3f,
    ]);
    expect(Array.from(written)).toEqual(Array.from(expected));
  });

  it('accepts an empty file body, null metadata, scalars and empty tensors', () => {
    expect(parseSafetensors(file('{}'))).toEqual({ tensors: new Map(), metadata: {} });
    const f = file(
      `{"__metadata__":null,"s":${entry('F32', [], [0, 4])},"e":${entry('F16', [0, 3], [4, 4])}}`,
      new Uint8Array([0, 0, 0x80, 0x3f]),
    );
    const { tensors, metadata } = parseSafetensors(f);
    expect(metadata).toEqual({});
    expect(Array.from(tensorToFloat32(tensors.get('s')!))).toEqual([1]);
    expect(tensors.get('e')!.shape).toEqual([0, 3]);
    expect(tensorToFloat32(tensors.get('e')!).length).toBe(0);
  });
});

describe('tensorToFloat32', () => {
  it('returns a view for aligned F32 and a correct copy when misaligned', () => {
    const data = Float32Array.of(1.5, -2, 3.25);
    const aligned = new Uint8Array(16);
    aligned.set(new Uint8Array(data.buffer), 4);
    const view = tensorToFloat32({ dtype: 'F32', shape: [3], bytes: aligned.subarray(4, 16) });
    expect(view.buffer).toBe(aligned.buffer);
    expect(Array.from(view)).toEqual([1.5, -2, 3.25]);

    const misaligned = new Uint8Array(16);
    misaligned.set(new Uint8Array(data.buffer), 1);
    const copy = tensorToFloat32({ dtype: 'F32', shape: [3], bytes: misaligned.subarray(1, 13) });
    expect(copy.buffer).not.toBe(misaligned.buffer);
    expect(Array.from(copy)).toEqual([1.5, -2, 3.25]);
  });

  it('rejects a dtype it cannot convert', () => {
    const t = { dtype: 'I64', shape: [1], bytes: new Uint8Array(8) } as unknown as Parameters<typeof tensorToFloat32>[0];
    expect(() => tensorToFloat32(t)).toThrow(/unsupported dtype "I64"/);
  });

  it('converts F16 and BF16 at even and odd byte offsets', () => {
    for (const offset of [0, 1]) {
      const buf = new Uint8Array(offset + 4);
      buf.set([0x00, 0xc1, 0x01, 0x00], offset); // F16 -2.5, smallest subnormal / BF16 -8, tiny
      const bytes = buf.subarray(offset, offset + 4);
      expect(Array.from(tensorToFloat32({ dtype: 'F16', shape: [2], bytes }))).toEqual([-2.5, 2 ** -24]);
      expect(Array.from(tensorToFloat32({ dtype: 'BF16', shape: [2], bytes }))).toEqual([-8, 2 ** -133]);
    }
  });
});

describe('serializeSafetensors round trip', () => {
  it('is bit-exact for F32, including NaN, infinities, -0 and subnormals', () => {
    const data = new Float32Array(1000).map(() => (Math.random() - 0.5) * 10 ** (Math.random() * 60 - 30));
    data.set([NaN, Infinity, -Infinity, -0, 1e-45, -1.17549435e-38, 3.4028234663852886e38], 0);
    const out = parseSafetensors(serializeSafetensors({ x: { shape: [10, 100], data } }));
    const x = out.tensors.get('x')!;
    expect(x).toMatchObject({ dtype: 'F32', shape: [10, 100] });
    expect(bits32(tensorToFloat32(x))).toEqual(bits32(data));
  });

  it('is exact for every F16 and BF16 value', () => {
    for (const [dtype, decode, nan] of [
      ['F16', float16BitsToFloat32, 0x7e00],
      ['BF16', bfloat16BitsToFloat32, 0x7fc0],
    ] as const) {
      const patterns = Array.from({ length: 65536 }, (_, h) => h).filter((h) => !Number.isNaN(decode(h)) || h === nan);
      const data = Float32Array.from(patterns, decode);
      const { tensors } = parseSafetensors(serializeSafetensors({ t: { shape: [patterns.length], data, dtype } }));
      const t = tensors.get('t')!;
      expect(t.dtype).toBe(dtype);
      expect(u16(t.bytes)).toEqual(patterns);
      expect(bits32(tensorToFloat32(t))).toEqual(bits32(data));
    }
  });

  it('keeps names, shapes, dtypes and metadata, and rounds Float64 input', () => {
    const tensors: Record<string, TensorToWrite> = {
      'model.layers.0.q_proj.lora_A': { shape: [2, 3], data: Float64Array.of(1, 2, 3, 4, 5, 1 / 3) },
      __proto__odd: { shape: [1], data: Float32Array.of(7), dtype: 'BF16' },
      'ünï "quoted" \\ name': { shape: [], data: Float32Array.of(0.5), dtype: 'F16' },
      empty: { shape: [0], data: new Float32Array(0), dtype: 'F16' },
    };
    const metadata = { format: 'pt', note: 'ümlaut "quotes" {braces}', '': 'empty key' };
    const out = parseSafetensors(serializeSafetensors(tensors, metadata));
    expect(out.metadata).toEqual(metadata);
    expect([...out.tensors.keys()].sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      const got = out.tensors.get(name)!;
      expect(got.dtype).toBe(t.dtype ?? 'F32');
      expect(got.shape).toEqual(t.shape);
    }
    const a = tensorToFloat32(out.tensors.get('model.layers.0.q_proj.lora_A')!);
    expect(Array.from(a)).toEqual([1, 2, 3, 4, 5, Math.fround(1 / 3)]);
  });

  it('accepts a Map and a tensor literally named "__proto__"', () => {
    const tensors = new Map<string, TensorToWrite>([['__proto__', { shape: [1], data: Float32Array.of(3) }]]);
    const out = parseSafetensors(serializeSafetensors(tensors));
    expect(Array.from(tensorToFloat32(out.tensors.get('__proto__')!))).toEqual([3]);
  });

  it('is deterministic, pads the header to 8 bytes and keeps F32 data aligned', () => {
    const a: TensorToWrite = { shape: [3], data: Float32Array.of(1, 2, 3), dtype: 'F16' };
    const b: TensorToWrite = { shape: [2], data: Float32Array.of(4, 5) };
    const c: TensorToWrite = { shape: [1], data: Float32Array.of(6) };
    const one = serializeSafetensors({ a, b, c }, { y: '1', x: '2' });
    const two = serializeSafetensors(new Map([['c', c], ['b', b], ['a', a]]), { x: '2', y: '1' });
    expect(Array.from(one)).toEqual(Array.from(two));

    const n = Number(new DataView(one.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const header = new TextDecoder().decode(one.subarray(8, 8 + n));
    expect(header).toMatch(/^\{"__metadata__":\{"x":"2","y":"1"\},"b":.*,"c":.*,"a":.*\} *$/);

    const { tensors } = parseSafetensors(one);
    for (const name of ['b', 'c']) {
      expect(tensorToFloat32(tensors.get(name)!).buffer).toBe(one.buffer); // a view: aligned
    }
    expect(Array.from(tensorToFloat32(tensors.get('a')!))).toEqual([1, 2, 3]);
  });

  it('rejects what it cannot write', () => {
    const data = Float32Array.of(1, 2);
    expect(() => serializeSafetensors({ t: { shape: [3], data } })).toThrow(/tensor "t": shape \[3\] holds 3 values, data has 2/);
    expect(() => serializeSafetensors({ t: { shape: [-2], data } })).toThrow(/tensor "t": shape must be/);
    expect(() => serializeSafetensors({ t: { shape: [2], data, dtype: 'I64' as 'F32' } })).toThrow(/unsupported dtype "I64"/);
    expect(() => serializeSafetensors({ __metadata__: { shape: [2], data } })).toThrow(/cannot be a tensor name/);
    expect(() => serializeSafetensors({}, { k: 1 as unknown as string })).toThrow(/metadata "k" must be a string/);
  });
});

describe('parseSafetensors rejects malformed files', () => {
  const f32 = (offsets: [number, number], shape = [(offsets[1] - offsets[0]) / 4]) => entry('F32', shape, offsets);

  it('a file shorter than 8 bytes', () => {
    expectError(new Uint8Array(7), /file too short: 7 bytes/);
    expectError(new Uint8Array(0), /file too short: 0 bytes/);
  });

  it('a header length past the end of the file', () => {
    expectError(file('{}', 0, 3), /header length 3 runs past the end of the file \(2 bytes after the length\)/);
    expectError(file('{}', 0, MAX_HEADER_BYTES), /header length 104857600 runs past the end/);
  });

  it('a header over 100 MB, before reading it', () => {
    expectError(file('{}', 0, MAX_HEADER_BYTES + 1), /header too large: 104857601 bytes/);
    const huge = new Uint8Array(8).fill(0xff);
    expectError(huge, /header too large: 18446744073709551615 bytes/);
  });

  it('a header that is not UTF-8', () => {
    const bytes = file('{"a"}');
    bytes[10] = 0xff;
    expectError(bytes, /header is not valid UTF-8/);
  });

  it('a header that is not JSON', () => {
    expectError(file('{"a":'), /header is not valid JSON/);
    expectError(file(''), /header is not valid JSON/);
    expectError(file('\ufeff{}'), /header is not valid JSON/); // a BOM, as the official reader
  });

  it('a header that is not a JSON object', () => {
    expectError(file('[]'), /header is not a JSON object \(got an array\)/);
    expectError(file('null'), /header is not a JSON object \(got null\)/);
    expectError(file('"x"'), /header is not a JSON object \(got a string\)/);
  });

  it.each(['F64', 'I8', 'I16', 'I32', 'I64', 'U8', 'U64', 'BOOL', 'F8_E4M3', 'F8_E5M2', 'C64'])(
    'an unsupported safetensors dtype: %s',
    (dtype) => {
      expectError(file(`{"t":${entry(dtype, [1], [0, 8])}}`, 8), new RegExp(`tensor "t": unsupported dtype "${dtype}"`));
    },
  );

  it('a dtype that is not a safetensors dtype at all', () => {
    expectError(file(`{"t":${entry('F31', [1], [0, 4])}}`, 4), /tensor "t": "F31" is not a safetensors dtype/);
    expectError(file(`{"t":${entry('f32', [1], [0, 4])}}`, 4), /tensor "t": "f32" is not a safetensors dtype/);
    expectError(file(`{"t":${entry(4, [1], [0, 4])}}`, 4), /tensor "t": 4 is not a safetensors dtype/);
  });

  it.each([[[-1]], [[1.5]], ['2'], [[null]], [null], [[1e300]]])('a shape that is not non-negative integers: %j', (shape) => {
    expectError(file(`{"t":${entry('F32', shape, [0, 4])}}`, 4), /tensor "t": shape must be an array of non-negative integers/);
  });

  it.each([[[0]], [[0, 4, 8]], [[0, '4']], [[-4, 0]], [[0.5, 4]], [{ begin: 0, end: 4 }], [[0, 2 ** 64]]])(
    'data_offsets that are not two non-negative integers: %j',
    (offsets) => {
      expectError(
        file(`{"t":${entry('F32', [1], offsets)}}`, 4),
        /tensor "t": data_offsets must be two non-negative integers \[begin, end\]/,
      );
    },
  );

  it('data_offsets with begin after end', () => {
    expectError(file(`{"t":${entry('F32', [1], [8, 4])}}`, 8), /tensor "t": data_offsets \[8, 4\] begin after end/);
  });

  it('data_offsets out of range of the data buffer', () => {
    expectError(file(`{"t":${f32([0, 8])}}`, 4), /tensor "t": data_offsets \[0, 8\] out of range of the 4-byte data buffer/);
  });

  it('overlapping tensors', () => {
    expectError(file(`{"a":${f32([0, 8])},"b":${f32([4, 12])}}`, 12), /tensors "a" and "b" overlap/);
    expectError(file(`{"b":${f32([0, 8])},"a":${f32([0, 8])}}`, 8), /tensors "(a" and "b|b" and "a)" overlap/);
    expectError(file(`{"a":${f32([0, 8])},"z":${f32([4, 4], [0])}}`, 8), /tensors "a" and "z" overlap/);
  });

  it('gaps between tensors', () => {
    expectError(file(`{"a":${f32([0, 4])},"b":${f32([8, 12])}}`, 12), /gap of 4 bytes in the data buffer after tensor "a", before tensor "b"/);
    expectError(file(`{"b":${f32([4, 8])}}`, 8), /gap of 4 bytes in the data buffer at the start of the data buffer, before tensor "b"/);
  });

  it('trailing bytes after the last tensor', () => {
    expectError(file(`{"a":${f32([0, 4])}}`, 6), /2 trailing bytes in the data buffer after the last tensor "a"/);
    expectError(file('{}', 4), /4 trailing bytes in the data buffer with no tensors/);
  });

  it('a shape that does not match the byte length', () => {
    expectError(
      file(`{"t":${entry('F32', [3], [0, 8])}}`, 8),
      /tensor "t": shape \[3\] of F32 \(4 bytes each\) needs 12 bytes, but data_offsets \[0, 8\] span 8/,
    );
    expectError(file(`{"t":${entry('BF16', [2, 2], [0, 4])}}`, 4), /tensor "t": shape \[2,2\] of BF16 .* needs 8 bytes/);
    expectError(file(`{"t":${entry('F32', [2 ** 40, 2 ** 40], [0, 4])}}`, 4), /tensor "t": shape .* span 4/);
  });

  it('duplicate tensor names, which JSON.parse would hide', () => {
    expectError(file(`{"a":${f32([0, 4])},"a":${f32([0, 4])}}`, 4), /duplicate tensor name "a"/);
    expectError(file(`{"a":${f32([0, 4])}, "\\u0061" :${f32([0, 4])}}`, 4), /duplicate tensor name "a"/);
    expectError(file('{"__metadata__":{},"__metadata__":{}}'), /duplicate "__metadata__" in header/);
  });

  it('duplicate keys inside an entry or the metadata', () => {
    const dupEntry = '{"dtype":"F32","shape":[1],"dtype":"F16","data_offsets":[0,4]}';
    expectError(file(`{"a":${dupEntry}}`, 4), /tensor "a": duplicate key "dtype"/);
    expectError(file('{"__metadata__":{"k":"1","k":"2"}}'), /__metadata__: duplicate key "k"/);
  });

  it('no false duplicates from equal keys in different objects or from strings that look like JSON', () => {
    const header =
      '{"__metadata__":{"a":"\\",\\"a\\":{","b":"\\\\","c":"}, \\"a\\""},' +
      `"a":${f32([0, 4])},"b":${f32([4, 8])},"a\\\\":${f32([8, 12])}}`;
    const { tensors, metadata } = parseSafetensors(file(header, 12));
    expect([...tensors.keys()]).toEqual(['a', 'b', 'a\\']);
    expect(metadata).toEqual({ a: '","a":{', b: '\\', c: '}, "a"' });
  });

  it('__metadata__ that is not a map of string to string', () => {
    expectError(file('{"__metadata__":{"k":1}}'), /"__metadata__" must map strings to strings, but "k" is a number/);
    expectError(file('{"__metadata__":{"k":{"x":"y"}}}'), /"__metadata__" must map strings to strings, but "k" is an object/);
    expectError(file('{"__metadata__":["a"]}'), /"__metadata__" must be a map of string to string, got an array/);
    expectError(file('{"__metadata__":"a"}'), /"__metadata__" must be a map of string to string, got a string/);
  });

  it('unknown extra keys in a tensor entry', () => {
    const extra = '{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":true}';
    expectError(file(`{"t":${extra}}`, 4), /tensor "t": unknown key "extra"/);
  });

  it('missing keys and entries that are not objects', () => {
    expectError(file('{"t":{"dtype":"F32","data_offsets":[0,4]}}', 4), /tensor "t": missing "shape"/);
    expectError(file('{"t":[1,2]}', 4), /tensor "t": entry must be an object, got an array/);
    expectError(file('{"t":"F32"}', 4), /tensor "t": entry must be an object, got a string/);
  });
});
