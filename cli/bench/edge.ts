/**
 * `symbiosis bench edge`: what the edge costs on top of the base-model server, measured side by
 * side in one run on the real local stack (s3rver, a `symbiosis serve` process, the deployed
 * worker bundle in workerd through Miniflare), with one tenant's LoRA (r 8, q_proj + v_proj,
 * non-zero B) uploaded as PEFT files.
 *
 *   edge_vs_direct_ttft        median time to first token of a streamed POST /v1/completions
 *                              (temperature 0, a fixed prompt, the LoRA) through the edge, over
 *                              the median of the same generation run directly against the server
 *                              from this process (SplitSession over a `ws` WebSocket, the LoRA read
 *                              from the same PEFT files with readPeftAdapter, applied here at the
 *                              taps). Both sides include opening the session (token, WebSocket,
 *                              open) and the prefill; the edge adds HTTP + SSE, tenant auth, the
 *                              adapter's lookup in S3 (list + meta; its weights come from the
 *                              isolate's cache) and workerd running the taps.
 *   edge_vs_direct_per_token   the same for decode latency per token: (last token − first token)
 *                              / (tokens − 1), as the client sees it (SSE chunks at the edge).
 *   adapter_cold_load_ms       in a fresh isolate (the edge restarted, then warmed with a base-model
 *                              request and one request with another adapter, so the isolate, the
 *                              tenant, the model info and the tap code are warm), the median TTFT
 *                              of the first request to a not-yet-loaded adapter minus the median
 *                              TTFT of interleaved requests to a cached one: the S3 get of the
 *                              sealed weights, their decryption, parsing and validation.
 *
 * stories260K by default; the full run adds a random model of init-random's 30m shape (with
 * stories260K's tokenizer copied in, so the edge can encode the prompt and stream text; see
 * ensureRandom30m) for more realistic per-token costs. No assertion on any number: this reports.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ensureDefaultModel } from '../../shared/node/default-model';
import { benchEdgeMath, renderEdgeMath, type EdgeMathResult } from './edge-math';
import { PROMPT } from './edge-client';
import { benchModel, ensureRandom30m, type ModelResult, type Plan } from './edge-model';
import { fmt } from './stats';
import { parseCommand, type Command } from '../args';
import { buildEdge } from '../stack/edge';
import { startS3 } from '../stack/s3';

const ROOT = resolve(import.meta.dirname, '../..');
const STORIES_DIR = join(ROOT, '.dev/models/stories260K');
const RANDOM_30M_DIR = join(ROOT, '.dev/models/bench-random-30m');

const QUICK: Plan = { quick: true, models: ['stories260K'], repeats: 9, maxTokens: 32, coldLoads: 7 };
const FULL: Plan = { quick: false, models: ['stories260K', 'random-30m'], repeats: 15, maxTokens: 64, coldLoads: 9 };

export async function benchEdge(plan: Plan): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  const dirs = new Map<string, string>();
  for (const m of plan.models) dirs.set(m, m === 'stories260K' ? await ensureDefaultModel(STORIES_DIR) : await ensureRandom30m(RANDOM_30M_DIR, STORIES_DIR));
  const dir = await mkdtemp(join(tmpdir(), 'symbiosis-bench-edge-'));
  const results: ModelResult[] = [];
  try {
    await mkdir(join(dir, 's3'));
    const [s3, bundle] = await Promise.all([startS3({ directory: join(dir, 's3'), bucket: 'symbiosis', port: 0 }), buildEdge(join(dir, 'edge-dist'))]);
    try {
      for (const m of plan.models) results.push(await benchModel(m, dirs.get(m)!, s3, bundle, plan));
    } finally {
      await s3.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const [main] = results;
  // The adapter math itself at a realistic width: the TypeScript kernel the edge runs against onnxruntime-web's wasm.
  const math = await benchEdgeMath({ quick: plan.quick });
  const at = (rows: number) => math.node.shapes.find((x) => x.rows === rows);
  return {
    bench: 'edge',
    prompt: PROMPT,
    adapter: 'LoRA r 8, alpha 16, q_proj + v_proj',
    edge_vs_direct_ttft: main.edge_vs_direct_ttft,
    edge_vs_direct_per_token: main.edge_vs_direct_per_token,
    adapter_cold_load_ms: main.adapter_cold_load_ms,
    edge_ttft_ms: main.edge_ttft_ms,
    direct_ttft_ms: main.direct_ttft_ms,
    edge_per_token_ms: main.edge_per_token_ms,
    direct_per_token_ms: main.direct_per_token_ms,
    models: results,
    ort_web_speedup_decode: at(1)?.ort_speedup,
    ort_web_speedup_prefill: at(256)?.ort_speedup,
    edge_math: math,
    seconds: (performance.now() - t0) / 1000,
  };
}

function table(r: Awaited<ReturnType<typeof benchEdge>>): string {
  const rows: [string, string][] = [];
  for (const m of r.models as ModelResult[]) {
    const p = `${m.model} `;
    rows.push(
      [`${m.model}`, `${m.description}, ${m.params.toLocaleString('en-US')} params; adapter ${m.adapter_bytes.toLocaleString('en-US')} bytes; ${m.tokens} tokens × ${m.repeats} requests per side (medians)${m.same_text ? '' : '; edge and direct text DIFFER'}`],
      [`${p}TTFT edge`, `${fmt(m.edge_ttft_ms)} ms  (HTTP POST → first SSE token: auth, adapter lookup, session open, prefill, taps in workerd)`],
      [`${p}TTFT direct`, `${fmt(m.direct_ttft_ms)} ms  (token + WebSocket + session open + prefill, taps in Node)`],
      [`${p}edge_vs_direct_ttft`, fmt(m.edge_vs_direct_ttft)],
      [`${p}per token edge`, `${fmt(m.edge_per_token_ms)} ms  (between SSE chunks)`],
      [`${p}per token direct`, `${fmt(m.direct_per_token_ms)} ms  (between decode steps)`],
      [`${p}edge_vs_direct_per_token`, fmt(m.edge_vs_direct_per_token)],
      [`${p}fresh isolate, 1st request`, `${fmt(m.isolate_first_request_ms)} ms  (base model, 2 tokens, whole request: isolate start, tenant, model info)`],
      [`${p}fresh isolate, 1st adapter`, `${fmt(m.first_adapter_in_isolate_ttft_ms)} ms TTFT  (cold load + first run of the tap code)`],
      [`${p}adapter cold / warm TTFT`, `${fmt(m.adapter_cold_ttft_ms)} / ${fmt(m.adapter_warm_ttft_ms)} ms`],
      [`${p}adapter_cold_load_ms`, `${fmt(m.adapter_cold_load_ms)} ms  (cold − warm TTFT: S3 get + decrypt + parse/validate)`],
    );
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  return `${rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')}\n\n${renderEdgeMath(r.edge_math as EdgeMathResult)}`;
}

export const benchEdgeCommand: Command = {
  name: 'edge',
  summary: 'the edge vs the server directly: TTFT, per-token latency, adapter cold load',
  usage: `Usage: symbiosis bench edge [--quick] [--json]

Starts the local stack (s3rver, a \`symbiosis serve\` process, the worker bundle in workerd) on
free ports in a temporary folder, uploads a LoRA (r 8, q_proj + v_proj) for a tenant and measures:
  edge_vs_direct_ttft       median time to first token of a streamed /v1/completions through the
                            edge over the same generation run directly against the server
                            (SplitSession over WebSocket from this process, same adapter)
  edge_vs_direct_per_token  the same for per-token decode latency
  adapter_cold_load_ms      in a restarted edge, TTFT of a first request to an uncached adapter
                            minus that of a cached one (S3 get + decrypt + parse)
On stories260K (${QUICK.repeats} requests per side, ${QUICK.maxTokens} tokens with --quick); the full run uses ${FULL.repeats} requests of
${FULL.maxTokens} tokens and adds a random model of init-random's 30m shape (written once to .dev/models).
Prints a table to stdout; progress goes to stderr. --quick: under a minute; full: a few minutes.

Options:
  --quick   stories260K only, fewer and shorter requests
  --json    also print the results as one JSON object, the last line of stdout`,
  async run(argv) {
    const parsed = parseCommand(this, argv, { quick: { type: 'boolean' }, json: { type: 'boolean' } });
    if (!parsed) return 0;
    const result = await benchEdge(parsed.values.quick ? QUICK : FULL);
    process.stdout.write(table(result) + '\n');
    if (parsed.values.json) process.stdout.write(JSON.stringify(result) + '\n');
    return 0;
  },
};
