#!/usr/bin/env node
// `symbiosis bench gpu` without the rest of the CLI: through bin/symbiosis.js, `bench` loads every
// bench subcommand, and `bench edge` imports miniflare and s3rver (the local stack), which the
// device's pruned node_modules (prepare.sh) leaves out to stay under the transfer limit. Errors are
// reported as cli/index.ts's main reports them.
import { register } from 'tsx/esm/api';

register();
const { benchGpuCommand } = await import('../../cli/bench/gpu.ts');
const { UsageError } = await import('../../cli/args.ts');
try {
  process.exitCode = await benchGpuCommand.run(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`symbiosis bench gpu: ${e instanceof UsageError ? e.message : e instanceof Error ? e.stack : String(e)}\n`);
  process.exitCode = e instanceof UsageError ? 2 : 1;
}
