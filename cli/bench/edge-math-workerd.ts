/**
 * `bench edge-math` inside workerd: edge-math-worker.ts bundled by wrangler as a deployment
 * would be (the .wasm import becomes a CompiledWasm module), run through Miniflare and timed
 * from here, since workerd's clocks stand still while a request computes. A batch's time is its
 * round trip minus the fastest of a few empty round trips just before (the transport's cost
 * without the machine's noise, which then adds to the batch like any other noise).
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { Miniflare } from 'miniflare';
import { median } from './stats';
import { checkAgreement, deltaFlops } from './edge-math-delta';
import { timeShape, type EngineResult, type Impl, type Plan, type ShapeResult } from './edge-math-timing';

const ROOT = resolve(import.meta.dirname, '../..');
const WRANGLER = join(ROOT, 'node_modules/.bin/wrangler');
const ENTRY = join(import.meta.dirname, 'edge-math-worker.ts');
const COMPATIBILITY_DATE = '2026-04-01';
const require = createRequire(import.meta.url);

export interface WorkerdResult extends EngineResult {
  /** The worker's modules, as a deployment would upload them (Workers limit the gzipped size). */
  bundle_bytes: number;
  bundle_gzip_bytes: number;
}

/** The worker bundle: its own wrangler config, so that the repository's (the edge's) is not used. */
async function bundle(dir: string): Promise<{ modules: { type: 'ESModule' | 'CompiledWasm'; path: string; contents: Uint8Array }[]; bytes: number; gzipBytes: number }> {
  const config = join(dir, 'wrangler.toml');
  await writeFile(config, `name = "symbiosis-edge-math"\nmain = ${JSON.stringify(ENTRY)}\ncompatibility_date = "${COMPATIBILITY_DATE}"\n`);
  const out = join(dir, 'out');
  await promisify(execFile)(WRANGLER, ['deploy', '--dry-run', '--outdir', out, '--config', config], { cwd: dir, env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true' } });
  const files = (await readdir(out)).filter((f) => f.endsWith('.js') || f.endsWith('.wasm'));
  const modules = await Promise.all(
    files.map(async (f) => ({ type: f.endsWith('.wasm') ? ('CompiledWasm' as const) : ('ESModule' as const), path: f, contents: new Uint8Array(await readFile(join(out, f))) })),
  );
  // The entry module first: Miniflare takes the first module as the worker's main.
  modules.sort((a, b) => Number(a.type !== 'ESModule') - Number(b.type !== 'ESModule'));
  return { modules, bytes: modules.reduce((n, m) => n + m.contents.length, 0), gzipBytes: modules.reduce((n, m) => n + gzipSync(m.contents).length, 0) };
}

export async function benchWorkerd(width: number, rank: number, rows: readonly number[], plan: Plan): Promise<WorkerdResult> {
  const dir = await mkdtemp(join(tmpdir(), 'symbiosis-edge-math-'));
  let miniflare: Miniflare | undefined;
  try {
    const { modules, bytes, gzipBytes } = await bundle(dir);
    miniflare = new Miniflare({ modules, compatibilityDate: COMPATIBILITY_DATE });
    const mf = miniflare;
    const get = async (path: string): Promise<{ ms: number; body: string }> => {
      const start = performance.now();
      const res = await mf.dispatchFetch(`http://edge-math${path}`);
      const body = await res.text();
      const ms = performance.now() - start;
      if (!res.ok) throw new Error(`workerd ${path}: HTTP ${res.status} ${body}`);
      return { ms, body };
    };
    const roundTrip = async (times = 9) => {
      const ms: number[] = [];
      for (let i = 0; i < times; i++) ms.push((await get('/ping')).ms);
      return Math.min(...ms);
    };

    await get(`/problem?width=${width}&rank=${rank}&rows=${rows.join(',')}`);
    let base = await roundTrip();
    const ortFirstSession = (await get('/sessions')).ms - base;
    const later: number[] = [];
    for (let i = 0; i < 3; i++) later.push((await get('/sessions')).ms - base);
    const errors = (JSON.parse((await get('/check')).body) as { maxRelErr: Record<number, number> }).maxRelErr;
    checkAgreement('workerd', errors);

    const run = async (impl: Impl | 'nop', r: number, n: number) => (await get(`/run?impl=${impl}&rows=${r}&n=${n}`)).ms - base;
    const overheadCalls = 2000;
    await run('nop', 1, overheadCalls);
    const overhead: number[] = [];
    for (let i = 0; i < plan.repeats; i++) overhead.push((await run('nop', 1, overheadCalls)) / overheadCalls);

    const shapes: ShapeResult[] = [];
    for (const r of rows) {
      base = await roundTrip();
      const flops = deltaFlops({ r: rank, inDim: width, outDim: width }, r);
      shapes.push({ ...(await timeShape(run, r, flops, { ...plan, batchMs: plan.workerdBatchMs })), max_rel_err: errors[r] });
    }
    return {
      runtime: `workerd ${require('workerd/package.json').version} (Miniflare ${require('miniflare/package.json').version}), 1 thread`,
      bundle_bytes: bytes,
      bundle_gzip_bytes: gzipBytes,
      ort_cold_start_ms: ortFirstSession,
      ort_module_sessions_ms: median(later),
      ort_run_overhead_ms: median(overhead),
      shapes,
    };
  } finally {
    await miniflare?.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}
