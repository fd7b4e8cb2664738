/**
 * Running recorded ops from host arrays: upload the inputs, let the caller record any number of
 * dispatches on them into one encoder, submit once, read every output back once. For tests, the
 * benchmark and other one-off calls; a real forward keeps its buffers on the device.
 */

export type HostArray = Float32Array | Uint32Array;

/** A storage buffer holding `data` (≥ 4 bytes: zero-sized bindings are invalid). */
export function uploadBuffer(device: GPUDevice, label: string, data: HostArray): GPUBuffer {
  const buffer = device.createBuffer({ label, size: Math.max(4, data.byteLength), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, mappedAtCreation: true });
  new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  buffer.unmap();
  return buffer;
}

/** A uniform buffer holding `data`, written at creation (so no queued write can reorder with a pending encoder). */
export function uploadUniform(device: GPUDevice, label: string, data: Uint32Array | ArrayBuffer): GPUBuffer {
  const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const buffer = device.createBuffer({ label, size: Math.max(16, Math.ceil(bytes.byteLength / 16) * 16), usage: GPUBufferUsage.UNIFORM, mappedAtCreation: true });
  new Uint8Array(buffer.getMappedRange()).set(bytes);
  buffer.unmap();
  return buffer;
}

/** An uninitialised (zeroed, as WebGPU guarantees) f32 storage buffer of n elements. */
export function outputBuffer(device: GPUDevice, label: string, n: number): GPUBuffer {
  return device.createBuffer({ label, size: Math.max(4, 4 * n), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
}

/**
 * Uploads `inputs`, makes one f32 buffer of `outputs[name]` elements per output, lets `record`
 * fill one encoder, copies every output into one staging buffer, submits once and maps once, and
 * returns each output's contents. Every buffer made here is destroyed before it returns. A
 * validation error anywhere in between is thrown, with its message.
 */
export async function runOnDevice<I extends string, O extends string>(
  device: GPUDevice,
  inputs: Record<I, HostArray>,
  outputs: Record<O, number>,
  record: (encoder: GPUCommandEncoder, buffers: Record<I | O, GPUBuffer>) => void,
): Promise<Record<O, Float32Array>> {
  const outNames = Object.keys(outputs) as O[];
  const label = `ops → ${outNames.join(', ')}`;
  const temporary: GPUBuffer[] = [];
  const keep = (b: GPUBuffer) => (temporary.push(b), b);
  device.pushErrorScope('validation');
  try {
    const encoder = device.createCommandEncoder({ label });
    const buffers = {} as Record<I | O, GPUBuffer>;
    try {
      for (const [name, data] of Object.entries(inputs) as [I, HostArray][]) buffers[name] = keep(uploadBuffer(device, name, data));
      for (const name of outNames) buffers[name] = keep(outputBuffer(device, name, outputs[name]));
      record(encoder, buffers);
    } catch (e) {
      await device.popErrorScope();
      throw e;
    }
    const total = outNames.reduce((n, name) => n + outputs[name], 0);
    const staging = keep(device.createBuffer({ label: `${label} readback`, size: Math.max(4, total * 4), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }));
    let at = 0;
    for (const name of outNames) {
      encoder.copyBufferToBuffer(buffers[name], 0, staging, at * 4, outputs[name] * 4);
      at += outputs[name];
    }
    device.queue.submit([encoder.finish()]);
    const error = device.popErrorScope();
    await staging.mapAsync(GPUMapMode.READ);
    const all = new Float32Array(staging.getMappedRange().slice(0, total * 4));
    const e = await error;
    if (e) throw new Error(`webgpu backend: ${label} failed validation: ${e.message}`);
    at = 0;
    return Object.fromEntries(outNames.map((name) => [name, all.subarray(at, (at += outputs[name]))])) as Record<O, Float32Array>;
  } finally {
    for (const b of temporary) b.destroy();
  }
}
