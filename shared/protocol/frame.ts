/**
 * Binary frames of the split-execution protocol: a small JSON header and raw little-endian
 * tensors, so activations cross the wire without text encoding.
 *
 *   u32 LE  header byte length H
 *   H bytes UTF-8 JSON header, whose `tensors` lists [{ name, dtype, shape }] in payload order
 *   zero padding to a multiple of 4 bytes
 *   the tensors' bytes, back to back (f32 or i32, 4 bytes an element)
 *
 * The frame's length must match exactly; nothing is read past it or left over.
 */
export type TensorDType = 'f32' | 'i32';
export type TensorData = Float32Array | Int32Array;

export interface TensorSpec {
  name: string;
  dtype: TensorDType;
  shape: number[];
}

export interface Frame {
  header: Record<string, unknown>;
  tensors: Map<string, { dtype: TensorDType; shape: number[]; data: TensorData }>;
}

export class FrameError extends Error {}

export const MAX_HEADER_BYTES = 64 * 1024;

const align4 = (n: number) => (n + 3) & ~3;
// One of each per module: a frame per tap exchange made constructing them a measurable cost.
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const elements = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

export function encodeFrame(header: object, tensors: Record<string, TensorData | { data: TensorData; shape: number[] }> = {}): Uint8Array {
  const specs: TensorSpec[] = [];
  const payloads: TensorData[] = [];
  let payloadBytes = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const data = ArrayBuffer.isView(t) ? t : t.data;
    const shape = ArrayBuffer.isView(t) ? [t.length] : t.shape;
    if (elements(shape) !== data.length) throw new FrameError(`tensor "${name}": shape [${shape}] does not match ${data.length} elements`);
    specs.push({ name, dtype: data instanceof Int32Array ? 'i32' : 'f32', shape });
    payloads.push(data);
    payloadBytes += data.byteLength;
  }
  // One allocation per frame (each ArrayBuffer costs ~1.5 µs, and a tap exchange is four
  // frames' worth of them): the header is encoded in place into room for its worst case, three
  // UTF-8 bytes per UTF-16 unit, and the frame is the used part of that buffer.
  const json = JSON.stringify({ ...header, tensors: specs });
  const buffer = new Uint8Array(align4(4 + 3 * json.length) + payloadBytes);
  const headerLength = utf8Encoder.encodeInto(json, buffer.subarray(4)).written;
  new DataView(buffer.buffer).setUint32(0, headerLength, true);
  let offset = align4(4 + headerLength);
  for (const p of payloads) {
    buffer.set(new Uint8Array(p.buffer, p.byteOffset, p.byteLength), offset);
    offset += p.byteLength;
  }
  return buffer.subarray(0, offset);
}

function parseSpecs(raw: unknown): TensorSpec[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw new FrameError('header "tensors" must be an array');
  const seen = new Set<string>();
  return raw.map((s, i) => {
    const ok =
      s !== null && typeof s === 'object' && typeof s.name === 'string' && (s.dtype === 'f32' || s.dtype === 'i32') &&
      Array.isArray(s.shape) && s.shape.length <= 4 && s.shape.every((d: unknown) => Number.isInteger(d) && (d as number) >= 0);
    if (!ok) throw new FrameError(`header "tensors"[${i}] must be { name, dtype: "f32" | "i32", shape: non-negative integers }`);
    if (seen.has(s.name)) throw new FrameError(`tensor "${s.name}" appears twice`);
    seen.add(s.name);
    return { name: s.name, dtype: s.dtype, shape: s.shape };
  });
}

/**
 * Decodes a frame. The caller hands the bytes over (a channel's receiver owns what it receives):
 * tensors are views of them where the frame starts 4-aligned — as a tap exchange's frames do when
 * they come off a socket (frames are whole multiples of 4 bytes, and a WebSocket header of 4 or 8
 * bytes precedes one of their size in a fresh read buffer) — else views of one copy of the frame.
 * A copy and an allocation per tensor of every tap answer were a measurable share of an exchange.
 */
export function decodeFrame(bytes: Uint8Array, maxBytes: number): Frame {
  if (bytes.byteLength > maxBytes) throw new FrameError(`frame of ${bytes.byteLength} bytes exceeds the limit of ${maxBytes}`);
  if (bytes.byteLength < 4) throw new FrameError('frame shorter than its 4-byte header length');
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
  if (headerLength > MAX_HEADER_BYTES) throw new FrameError(`frame header of ${headerLength} bytes exceeds ${MAX_HEADER_BYTES}`);
  if (4 + headerLength > bytes.byteLength) throw new FrameError('frame truncated inside its header');
  let header: unknown;
  try {
    header = JSON.parse(utf8Decoder.decode(bytes.subarray(4, 4 + headerLength)));
  } catch {
    throw new FrameError('frame header is not valid UTF-8 JSON');
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw new FrameError('frame header must be a JSON object');
  const specs = parseSpecs((header as Record<string, unknown>).tensors);
  let offset = align4(4 + headerLength);
  if (offset > bytes.byteLength) throw new FrameError('frame truncated inside its header padding');
  // Every tensor sits 4-aligned within the frame, so the frame's own alignment decides for all.
  const source = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  const tensors: Frame['tensors'] = new Map();
  for (const spec of specs) {
    const byteLength = elements(spec.shape) * 4;
    if (offset + byteLength > bytes.byteLength) throw new FrameError(`frame truncated inside tensor "${spec.name}"`);
    const at = source.byteOffset + offset;
    const data = spec.dtype === 'f32' ? new Float32Array(source.buffer, at, byteLength / 4) : new Int32Array(source.buffer, at, byteLength / 4);
    tensors.set(spec.name, { dtype: spec.dtype, shape: spec.shape, data });
    offset += byteLength;
  }
  if (offset !== bytes.byteLength) throw new FrameError(`frame has ${bytes.byteLength - offset} bytes past its last tensor`);
  const { tensors: _specs, ...rest } = header as Record<string, unknown>;
  return { header: rest, tensors };
}
