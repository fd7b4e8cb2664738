/**
 * The edge's adapter math: the LoRA delta s·(x·Aᵀ)·Bᵀ of one 4096-wide module at rank 16, on
 * decode (1 row) and prefill (256 rows), in plain TypeScript (shared/adapters' loraDown/loraUp,
 * the code LoraModule and DoraModule run at the taps; DoRA adds only a per-row rescale) against
 * onnxruntime-web's wasm backend with one thread, as workerd allows. Both are checked to agree
 * before any timing. Measured in Node, and inside workerd (Miniflare) where the edge runs; if
 * workerd cannot be started the Node numbers stand alone and `workerd_error` says why.
 */
import { median } from './stats';
import { checkAgreement, deltaFlops, loraProblem, maxRelErr, OrtDelta, randomRows, trivialSession, tsDelta } from './edge-math-delta';
import { timeShape, type Batch, type EngineResult, type Plan, type ShapeResult } from './edge-math-timing';
import { benchWorkerd, type WorkerdResult } from './edge-math-workerd';

export const WIDTH = 4096;
export const RANK = 16;
export const ROWS = [1, 256] as const;

const QUICK: Plan = { repeats: 5, batchMs: 80, workerdBatchMs: 300 };
const FULL: Plan = { repeats: 11, batchMs: 250, workerdBatchMs: 800 };
/** Runs of the trivial session per sample of the per-run overhead. */
const OVERHEAD_CALLS = 2000;

export interface EdgeMathResult {
  bench: 'edge-math';
  width: number;
  rank: number;
  threads: 1;
  repeats: number;
  batch_ms: number;
  workerd_batch_ms: number;
  node: EngineResult;
  workerd: WorkerdResult | null;
  workerd_error?: string;
  seconds: number;
}

const log = (line: string) => process.stderr.write(`bench edge-math: ${line}\n`);

async function benchNode(plan: Plan): Promise<EngineResult> {
  const ort = await import('onnxruntime-web');
  // As in workerd, which has no Web Workers; set before the first session, which fixes it.
  ort.env.wasm.numThreads = 1;
  const p = loraProblem(WIDTH, RANK);
  let start = performance.now();
  let ortDelta = await OrtDelta.create(ort, p);
  const firstSession = performance.now() - start;
  const later: number[] = [];
  for (let i = 0; i < 3; i++) {
    start = performance.now();
    const next = await OrtDelta.create(ort, p);
    later.push(performance.now() - start);
    await ortDelta.release();
    ortDelta = next;
  }
  const nop = await trivialSession(ort);
  try {
    const overhead: number[] = [];
    for (let i = 0; i <= plan.repeats; i++) {
      start = performance.now();
      for (let j = 0; j < OVERHEAD_CALLS; j++) await nop.run();
      overhead.push((performance.now() - start) / OVERHEAD_CALLS);
    }
    overhead.shift(); // the warm-up

    const inputs = new Map(ROWS.map((rows) => [rows, randomRows(rows, WIDTH)]));
    const errors: Record<number, number> = {};
    for (const [rows, x] of inputs) errors[rows] = maxRelErr(await ortDelta.run(x, rows), tsDelta(p, x, rows));
    checkAgreement('node', errors);

    let sink = 0; // keeps each result observable, so no call can be skipped
    const batch: Batch = async (impl, rows, n) => {
      const x = inputs.get(rows as (typeof ROWS)[number])!;
      const t0 = performance.now();
      for (let i = 0; i < n; i++) sink += (impl === 'ts' ? tsDelta(p, x, rows) : await ortDelta.run(x, rows))[i % x.length];
      return performance.now() - t0;
    };
    const shapes: ShapeResult[] = [];
    for (const rows of ROWS) shapes.push({ ...(await timeShape(batch, rows, deltaFlops(p, rows), plan)), max_rel_err: errors[rows] });
    if (!Number.isFinite(sink)) log('warning: a delta was not finite');
    return {
      runtime: `Node ${process.version}, onnxruntime-web ${ort.env.versions.web} wasm, 1 thread`,
      ort_cold_start_ms: firstSession,
      ort_module_sessions_ms: median(later),
      ort_run_overhead_ms: median(overhead),
      shapes,
    };
  } finally {
    await nop.release();
    await ortDelta.release();
  }
}

export async function benchEdgeMath(opts: { quick: boolean }): Promise<EdgeMathResult> {
  const t0 = performance.now();
  const plan = opts.quick ? QUICK : FULL;
  log('Node');
  const node = await benchNode(plan);
  let workerd: EdgeMathResult['workerd'] = null;
  let workerdError: string | undefined;
  try {
    log('workerd (bundling with wrangler, starting Miniflare)');
    workerd = await benchWorkerd(WIDTH, RANK, ROWS, plan);
  } catch (e) {
    workerdError = e instanceof Error ? e.message : String(e);
    log(`workerd failed, Node numbers only: ${workerdError}`);
  }
  return {
    bench: 'edge-math',
    width: WIDTH,
    rank: RANK,
    threads: 1,
    repeats: plan.repeats,
    batch_ms: plan.batchMs,
    workerd_batch_ms: plan.workerdBatchMs,
    node,
    workerd,
    ...(workerdError === undefined ? {} : { workerd_error: workerdError }),
    seconds: (performance.now() - t0) / 1000,
  };
}

const ms = (x: number) => (x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3));
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
const range = (lo: number, hi: number, f: (x: number) => string) => `${f(lo)}–${f(hi)}`;

/** One line per engine and shape, then each engine's onnxruntime-web setup costs. */
export function renderEdgeMath(r: EdgeMathResult): string {
  const header = ['engine', 'rows', 'TS ms/call (range)', 'TS GFLOP/s', 'ORT ms/call (range)', 'ORT GFLOP/s', 'TS/ORT (range)', 'max rel err'];
  const lines: string[][] = [header];
  const engines = [['node', r.node] as const, ...(r.workerd ? [['workerd', r.workerd] as const] : [])];
  for (const [name, e] of engines) {
    for (const s of e.shapes) {
      lines.push([
        name,
        String(s.rows),
        `${ms(s.ts.median_ms)} (${range(s.ts.min_ms, s.ts.max_ms, ms)})`,
        s.ts.gflops.toFixed(2),
        `${ms(s.ort.median_ms)} (${range(s.ort.min_ms, s.ort.max_ms, ms)})`,
        s.ort.gflops.toFixed(2),
        `${s.ort_speedup.toFixed(2)} (${range(...s.ort_speedup_range, (x) => x.toFixed(2))})`,
        s.max_rel_err.toExponential(1),
      ]);
    }
  }
  const widths = header.map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  const table = lines.map((l) => l.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
  const notes = [
    `LoRA delta s·(x·Aᵀ)·Bᵀ, width ${r.width}, rank ${r.rank}, 1 thread; medians of ${r.repeats} interleaved batches of ~${r.batch_ms} ms (workerd ~${r.workerd_batch_ms} ms). TS/ORT > 1: onnxruntime-web is faster.`,
    ...engines.map(
      ([name, e]) =>
        `${name}: ${e.runtime}; ORT cold start ${ms(e.ort_cold_start_ms)} ms (wasm + a module's sessions), each further module ${ms(e.ort_module_sessions_ms)} ms, run() overhead ${ms(e.ort_run_overhead_ms)} ms (2 per delta)` +
        ('bundle_bytes' in e ? `; bundle ${mib(e.bundle_bytes)} MiB, ${mib(e.bundle_gzip_bytes)} MiB gzip` : ''),
    ),
    ...(r.workerd_error === undefined ? [] : [`workerd: not measured: ${r.workerd_error}`]),
  ];
  return [...table, '', ...notes].join('\n');
}
