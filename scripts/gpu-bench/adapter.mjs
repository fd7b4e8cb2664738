#!/usr/bin/env node
// run.sh's `vulkaninfo`: the adapter Dawn picks, as one JSON object on stdout (the record the
// bench keeps: cli/bench/gpu/adapter-info.ts). Exit 0 for a hardware adapter, 3 without any,
// 4 for a software one (lavapipe) — which tells run.sh to try NVIDIA's driver file explicitly.
import { register } from 'tsx/esm/api';

register();
const { adapterRecord } = await import('../../cli/bench/gpu/adapter-info.ts');
const { findAdapter } = await import('../../gpu-server/backend/webgpu/adapter.ts');

const adapter = await findAdapter();
if (!adapter) {
  process.stderr.write('adapter: Dawn found no WebGPU adapter\n');
  process.exitCode = 3;
} else {
  const record = adapterRecord(adapter);
  process.stdout.write(JSON.stringify(record, null, 2) + '\n');
  process.exitCode = record.software ? 4 : 0;
}
