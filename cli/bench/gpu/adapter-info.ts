/**
 * What Dawn reports about the adapter the webgpu backend would use — printed first by the
 * device script (scripts/gpu-bench/run.sh) as its `vulkaninfo`, and kept in the bench's JSON,
 * so that every number comes with the device that produced it.
 */
import { describeAdapter, findAdapter, isSoftwareAdapter, NO_ADAPTER_MESSAGE } from '../../../gpu-server/backend/webgpu/adapter';

export interface AdapterRecord {
  description: string;
  vendor: string;
  architecture: string;
  device: string;
  software: boolean;
  /** describeAdapter's one line, as the server logs it. */
  summary: string;
  subgroupMinSize: number;
  subgroupMaxSize: number;
  features: string[];
  limits: Record<string, number>;
}

/** The limits that bound the backend's buffers and grids (device.ts, kernels.ts). */
const LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
] as const;

export function adapterRecord(adapter: GPUAdapter): AdapterRecord {
  // GPUAdapterInfo's fields are getters on Dawn's object: spread or JSON.stringify would see none.
  const { info } = adapter;
  return {
    description: info.description,
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    software: isSoftwareAdapter(info),
    summary: describeAdapter(info),
    subgroupMinSize: info.subgroupMinSize,
    subgroupMaxSize: info.subgroupMaxSize,
    features: [...adapter.features].map(String).sort(),
    limits: Object.fromEntries(LIMITS.map((k) => [k, adapter.limits[k]])),
  };
}

/** Dawn's high-performance adapter, or the install hint as an error. */
export async function requireAdapter(): Promise<GPUAdapter> {
  const adapter = await findAdapter();
  if (!adapter) throw new Error(NO_ADAPTER_MESSAGE);
  return adapter;
}
