/**
 * RoPE's cos/sin table on the device, per (headDim, theta): [positions, headDim/2] of (cos, sin),
 * computed in float64 as the reference computes them (rope.wgsl says why not in the shader). It
 * grows by doubling when a call reaches a position past its end; the old buffer is dropped, not
 * destroyed, since a command encoder recorded but not yet submitted may still bind it.
 */
interface Table {
  buffer: GPUBuffer;
  positions: number;
}

export class RopeTables {
  private readonly tables = new Map<string, Table>();

  constructor(private readonly device: GPUDevice) {}

  /** A table that covers positions 0 … positions−1 (at least). */
  get(headDim: number, theta: number, positions: number): GPUBuffer {
    const key = `${headDim}/${theta}`;
    const cached = this.tables.get(key);
    if (cached && cached.positions >= positions) return cached.buffer;
    const size = Math.max(positions, 2 * (cached?.positions ?? 0), 256);
    const half = headDim / 2;
    const data = new Float32Array(size * half * 2);
    for (let i = 0; i < half; i++) {
      const invFreq = 1 / Math.pow(theta, (2 * i) / headDim);
      for (let pos = 0; pos < size; pos++) {
        data[2 * (pos * half + i)] = Math.cos(pos * invFreq);
        data[2 * (pos * half + i) + 1] = Math.sin(pos * invFreq);
      }
    }
    const buffer = this.device.createBuffer({ label: `rope table headDim ${headDim} theta ${theta}, ${size} positions`, size: data.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    this.device.queue.writeBuffer(buffer, 0, data);
    this.tables.set(key, { buffer, positions: size });
    return buffer;
  }
}
