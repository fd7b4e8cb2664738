/**
 * Finding a WebGPU adapter through Dawn (npm `webgpu`) and describing it. One Dawn instance per
 * process, made on first use: loading it touches the Vulkan loader, which processes that never
 * ask for WebGPU should not pay for.
 */
import { create, globals } from 'webgpu';

export const NO_ADAPTER_MESSAGE =
  'no WebGPU adapter: install a Vulkan driver, e.g. Debian bookworm-backports mesa-vulkan-drivers (lavapipe), or run on a GPU';

let instance: GPU | undefined;

/** The process's Dawn instance; also installs the WebGPU globals (GPUBufferUsage, …) it needs. */
export function gpu(): GPU {
  if (!instance) {
    Object.assign(globalThis, globals);
    instance = create([]);
  }
  return instance;
}

/** The high-performance adapter, or null when Dawn finds none (no usable Vulkan driver). */
export async function findAdapter(): Promise<GPUAdapter | null> {
  return gpu().requestAdapter({ powerPreference: 'high-performance' });
}

/**
 * A software rasteriser (lavapipe/llvmpipe, SwiftShader, WARP): Dawn flags them as fallback
 * adapters; the description check is a second line for drivers that do not say so.
 */
export function isSoftwareAdapter(info: GPUAdapterInfo): boolean {
  if (info.isFallbackAdapter || info.architecture === 'software') return true;
  return /llvmpipe|lavapipe|swiftshader|microsoft basic render/i.test(`${info.description} ${info.device}`);
}

/** e.g. "llvmpipe: Mesa 25.0.7 (LLVM 15.0.6) [mesa, software] (software)". */
export function describeAdapter(info: GPUAdapterInfo): string {
  const name = info.description || info.device || 'unnamed adapter';
  const detail = [info.vendor, info.architecture, info.description ? info.device : ''].filter(Boolean).join(', ');
  return `${name}${detail ? ` [${detail}]` : ''}${isSoftwareAdapter(info) ? ' (software)' : ''}`;
}

/** What the server's `--backend auto` needs to know, without creating a device. */
export interface AdapterProbe {
  device: string;
  software: boolean;
}

export async function probeAdapter(): Promise<AdapterProbe | undefined> {
  const adapter = await findAdapter();
  return adapter ? { device: describeAdapter(adapter.info), software: isSoftwareAdapter(adapter.info) } : undefined;
}
