/**
 * A device activation (../activations.ts on webgpu): f32 values in a storage buffer, with their
 * count; byteLength as a Float32Array's, for the memory accounting.
 *
 * Released buffers are pooled and handed out again (pending.ts), so a tensor used after its
 * scope released it would silently read or overwrite someone else's values: its buffer is only
 * reachable while it is held, and using it afterwards throws.
 */
export class DeviceTensor {
  private held = true;

  constructor(
    private readonly storage: GPUBuffer,
    readonly length: number,
  ) {}

  /** The buffer to record an op on. */
  get buffer(): GPUBuffer {
    if (!this.held) throw new Error('webgpu activations: a tensor was used after its scope released it');
    return this.storage;
  }

  get byteLength(): number {
    return this.length * 4;
  }

  /** Gives its buffer up, once: the tensor is unusable from here on. */
  release(): GPUBuffer {
    const buffer = this.buffer;
    this.held = false;
    return buffer;
  }
}
