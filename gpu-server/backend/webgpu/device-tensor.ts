/**
 * A device activation (../activations.ts on webgpu): f32 values in a storage buffer, with their
 * count; byteLength as a Float32Array's, for the memory accounting.
 */
export class DeviceTensor {
  constructor(
    readonly buffer: GPUBuffer,
    readonly length: number,
  ) {}

  get byteLength(): number {
    return this.length * 4;
  }
}

export function expectLength(what: string, t: DeviceTensor, n: number): void {
  if (t.length !== n) throw new Error(`${what}: ${t.length} elements, expected ${n}`);
}
