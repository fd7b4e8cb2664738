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

/** An uninitialised (zeroed, as WebGPU guarantees) f32 storage buffer of n elements. */
export function outputBuffer(device: GPUDevice, label: string, n: number): GPUBuffer {
  return device.createBuffer({ label, size: Math.max(4, 4 * n), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
}

/**
 * Uploads `inputs`, makes one f32 buffer of `outputs[name]` elements per output, lets `record`
 * fill one encoder, submits it and returns each output's contents. A validation error anywhere
 * in between is thrown, with its message.
 */
export async function runOnDevice<I extends string, O extends string>(
  device: GPUDevice,
  inputs: Record<I, HostArray>,
  outputs: Record<O, number>,
  record: (encoder: GPUCommandEncoder, buffers: Record<I | O, GPUBuffer>) => void,
): Promise<Record<O, Float32Array>> {
  device.pushErrorScope('validation');
  const buffers = {} as Record<I | O, GPUBuffer>;
  for (const [name, data] of Object.entries(inputs) as [I, HostArray][]) buffers[name] = uploadBuffer(device, name, data);
  const outNames = Object.keys(outputs) as O[];
  for (const name of outNames) buffers[name] = outputBuffer(device, name, outputs[name]);
  const encoder = device.createCommandEncoder({ label: `ops → ${outNames.join(', ')}` });
  try {
    record(encoder, buffers);
  } catch (e) {
    await device.popErrorScope();
    for (const name of Object.keys(buffers) as (I | O)[]) buffers[name].destroy();
    throw e;
  }
  const staging = outNames.map((name) => {
    const bytes = Math.max(4, 4 * outputs[name]);
    const buffer = device.createBuffer({ label: `${name} readback`, size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    encoder.copyBufferToBuffer(buffers[name], 0, buffer, 0, bytes);
    return buffer;
  });
  device.queue.submit([encoder.finish()]);
  const error = device.popErrorScope();
  const results = await Promise.all(
    staging.map(async (buffer, i) => {
      await buffer.mapAsync(GPUMapMode.READ);
      const data = new Float32Array(buffer.getMappedRange().slice(0, 4 * outputs[outNames[i]]));
      buffer.destroy();
      return [outNames[i], data] as const;
    }),
  );
  const e = await error;
  if (e) throw new Error(`webgpu ops: validation failed: ${e.message}`);
  for (const name of Object.keys(buffers) as (I | O)[]) buffers[name].destroy();
  return Object.fromEntries(results) as Record<O, Float32Array>;
}
