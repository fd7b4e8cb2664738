#!/usr/bin/env node
// The npm packages `bench.mjs` needs at run time, one name a line, for prepare.sh to carry.
//
// Usage: node scripts/gpu-bench/packages.mjs META.json
//
// The roots are every package that esbuild's metafile (a bundle of bench.mjs, made only to be
// read) saw imported. To them is added everything they depend on (dependencies and
// optionalDependencies present in the top-level node_modules), since some are loaded without an
// import that a bundler sees: esbuild's platform binary (@esbuild/linux-x64, found by
// require.resolve), native addons behind computed require() paths. A package's own nested
// node_modules travels with it.
import { existsSync, readFileSync } from 'node:fs';

const [metaPath] = process.argv.slice(2);
if (!metaPath) {
  process.stderr.write('usage: packages.mjs META.json\n');
  process.exit(2);
}
const meta = JSON.parse(readFileSync(metaPath, 'utf8'));

const roots = new Set();
for (const input of Object.keys(meta.inputs)) {
  const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
  if (m) roots.add(m[1]);
}

const found = new Set();
const pending = [...roots];
while (pending.length > 0) {
  const name = pending.pop();
  if (found.has(name)) continue;
  const manifest = `node_modules/${name}/package.json`;
  if (!existsSync(manifest)) continue; // an optional dependency for another platform
  found.add(name);
  const pkg = JSON.parse(readFileSync(manifest, 'utf8'));
  for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) {
    if (!existsSync(`node_modules/${name}/node_modules/${dep}`)) pending.push(dep);
  }
}
process.stdout.write([...found].sort().join('\n') + '\n');
