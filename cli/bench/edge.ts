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
import { copyFile, mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { IssuedKey } from '../../shared/api/admin';
import { readPeftAdapter, writePeftAdapter, type PeftAdapter } from '../../shared/adapters';
import { randomModel } from '../../shared/model/random';
import type { ModelConfig } from '../../shared/model/types';
import { ensureDefaultModel } from '../../shared/node/default-model';
import { devSessionToken } from '../../shared/protocol/token';
import { SplitSession } from '../../shared/split';
import { generateTokens } from '../../shared/split/generate';
import { Tokenizer } from '../../shared/tokenizer';
import { benchLora } from './bench-lora';
import { benchEdgeMath, renderEdgeMath, type EdgeMathResult } from './edge-math';
import { connect } from '../../gpu-server/client';
import { parseCommand, type Command } from '../args';
import { presetConfig, writeRandomModelDir } from '../init-random';
import { parameterCount } from '../init-random';
import { serverModel } from '../split-generate';
import { buildEdge, startEdge, type LocalEdge } from '../stack/edge';
import { localEdgeVars, newSecrets } from '../stack';
import { startS3 } from '../stack/s3';
import { spawnServe, type ServeProcess } from '../stack/serve-process';

const ROOT = resolve(import.meta.dirname, '../..');
const STORIES_DIR = join(ROOT, '.dev/models/stories260K');
const RANDOM_30M_DIR = join(ROOT, '.dev/models/bench-random-30m');
const PROMPT = 'Once upon a time';
const ADAPTER = 'bench-lora';
const WARMUP_ADAPTER = 'bench-warmup';
const coldAdapter = (i: number) => `bench-cold-${i}`;

interface Plan {
  quick: boolean;
  models: ('stories260K' | 'random-30m')[];
  /** Measured requests per side (after warm-up), interleaved edge / direct. */
  repeats: number;
  maxTokens: number;
  /** Adapters loaded cold after the restart, each paired with a warm request. */
  coldLoads: number;
}

const QUICK: Plan = { quick: true, models: ['stories260K'], repeats: 9, maxTokens: 32, coldLoads: 7 };
const FULL: Plan = { quick: false, models: ['stories260K', 'random-30m'], repeats: 15, maxTokens: 64, coldLoads: 9 };

// ---- pure helpers (tested in edge.test.ts) ----

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Incremental server-sent-events parsing: feed text as it arrives, get each event's data. */
export class SseParser {
  private buffer = '';

  push(text: string): string[] {
    this.buffer += text.replace(/\r\n?/g, '\n');
    const events: string[] = [];
    let end: number;
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const data = block
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(line[5] === ' ' ? 6 : 5));
      if (data.length > 0) events.push(data.join('\n'));
    }
    return events;
  }
}

export interface TokenTimes {
  /** ms from the request's start to the first token. */
  ttftMs: number;
  /** (last − first) / (tokens − 1), ms; NaN below 2 tokens. */
  perTokenMs: number;
}

/** TTFT and per-token latency from the arrival times (ms, performance.now) of each token. */
export function tokenTimes(start: number, arrivals: readonly number[]): TokenTimes {
  if (arrivals.length === 0) return { ttftMs: NaN, perTokenMs: NaN };
  const last = arrivals[arrivals.length - 1];
  return { ttftMs: arrivals[0] - start, perTokenMs: arrivals.length < 2 ? NaN : (last - arrivals[0]) / (arrivals.length - 1) };
}

// ---- the stack ----

const log = (line: string) => process.stderr.write(`bench edge: ${line}\n`);
const fmt = (x: number, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : String(x));

/**
 * init-random's 30m preset (seed 0) with stories260K's tokenizer copied in, written once under
 * .dev/models. The shape, and so the cost per token, is the preset's; only the tied
 * embedding / LM-head rows of ids that do not decode to text by themselves (specials, byte
 * fallbacks, "▁", and everything past the tokenizer's 512) are zeroed, so greedy decoding picks
 * a text piece every step and the edge streams one SSE chunk per token, never stopping at EOS.
 */
async function ensureRandom30m(dir: string): Promise<string> {
  if (['config.json', 'model.safetensors', 'tokenizer.json'].every((f) => existsSync(join(dir, f)))) return dir;
  const stories = await ensureDefaultModel(STORIES_DIR);
  log(`writing the random 30m model to ${dir} (once)`);
  const model = randomModel(presetConfig('30m'), 0);
  const tokenizerFiles = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'].filter((f) => existsSync(join(stories, f)));
  const tokenizer = Tokenizer.fromFiles(JSON.parse(await readFile(join(stories, 'tokenizer.json'), 'utf8')) as object, JSON.parse(await readFile(join(stories, 'tokenizer_config.json'), 'utf8')) as object);
  const { dim, vocabSize } = model.config;
  for (let id = 0; id < vocabSize; id++) {
    const token = tokenizer.idToToken(id);
    const text = token === undefined || /^<.*>$/.test(token) ? '' : tokenizer.decode([id], { skipSpecialTokens: true });
    if (text === '') model.weights.embed.fill(0, id * dim, (id + 1) * dim);
  }
  const partial = `${dir}.partial-${process.pid}`;
  await mkdir(partial, { recursive: true });
  await writeRandomModelDir(partial, model);
  for (const f of tokenizerFiles) await copyFile(join(stories, f), join(partial, f));
  await rm(dir, { recursive: true, force: true });
  await rename(partial, dir);
  return dir;
}

/** bench serve's LoRA (seed 1), as PEFT files. */
function benchLoraFiles(config: ModelConfig): { configJson: string; safetensors: Uint8Array } {
  return writePeftAdapter(benchLora(config, 1));
}

function peftForm(files: { configJson: string; safetensors: Uint8Array }): FormData {
  const form = new FormData();
  form.append('adapter_config.json', new Blob([files.configJson], { type: 'application/json' }), 'adapter_config.json');
  form.append('adapter_model.safetensors', new Blob([files.safetensors as BlobPart]), 'adapter_model.safetensors');
  return form;
}

interface Run extends TokenTimes {
  tokens: number;
  text: string;
}

class EdgeClient {
  constructor(
    public url: string,
    private readonly adminToken: string,
    public apiKey = '',
  ) {}

  private async call(token: string, path: string, body: unknown, method = 'POST'): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (!(body instanceof FormData)) headers['content-type'] = 'application/json';
    const res = await fetch(`${this.url}${path}`, { method, headers, body: body instanceof FormData ? body : JSON.stringify(body) });
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${await res.text()}`);
    return res;
  }

  async createTenant(name: string): Promise<void> {
    this.apiKey = ((await (await this.call(this.adminToken, '/admin/tenants', { name })).json()) as IssuedKey).apiKey;
  }

  async upload(name: string, files: { configJson: string; safetensors: Uint8Array }): Promise<void> {
    await (await this.call(this.apiKey, `/v1/adapters/${name}`, peftForm(files), 'PUT')).arrayBuffer();
  }

  /** A streamed completion; token arrival = each SSE chunk that carries text. */
  async stream(model: string, maxTokens: number): Promise<Run> {
    const start = performance.now();
    const res = await fetch(`${this.url}/v1/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.apiKey}`, 'content-type': 'application/json', 'accept-encoding': 'identity' },
      body: JSON.stringify({ model, prompt: PROMPT, max_tokens: maxTokens, temperature: 0, stream: true, stream_options: { include_usage: true } }),
    });
    if (!res.ok || !res.body) throw new Error(`POST /v1/completions: HTTP ${res.status} ${await res.text()}`);
    const parser = new SseParser();
    const decoder = new TextDecoder();
    const arrivals: number[] = [];
    let text = '';
    let tokens = NaN;
    for await (const bytes of res.body) {
      const now = performance.now();
      for (const data of parser.push(decoder.decode(bytes, { stream: true }))) {
        if (data === '[DONE]') continue;
        const chunk = JSON.parse(data) as { error?: { message: string }; choices: { text: string }[]; usage?: { completion_tokens: number } };
        if (chunk.error) throw new Error(`stream error: ${chunk.error.message}`);
        if (chunk.usage) tokens = chunk.usage.completion_tokens;
        const piece = chunk.choices[0]?.text;
        if (piece) {
          arrivals.push(now);
          text += piece;
        }
      }
    }
    if (arrivals.length !== tokens) log(`warning: ${arrivals.length} text chunks for ${tokens} tokens; per-token latency is per chunk`);
    return { ...tokenTimes(start, arrivals), tokens, text };
  }
}

/** The same generation straight against the server, as the edge does it but from here. */
async function direct(serverUrl: string, secret: string, config: ModelConfig, adapter: PeftAdapter, promptIds: number[], maxTokens: number): Promise<Run & { ids: number[] }> {
  const start = performance.now();
  const token = await devSessionToken(secret, 'bench-direct', { maxSessions: 32, maxContext: config.maxSeqLen, maxMemoryBytes: 2 ** 30 });
  const session = await SplitSession.open(await connect(serverUrl), { token, mode: 'inference', maxContext: promptIds.length + maxTokens, config, adapter, sampling: { temperature: 0, topP: 1 } });
  const arrivals: number[] = [];
  try {
    const { ids } = await generateTokens(session, promptIds, { maxTokens, stopIds: config.eosTokenIds, onToken: () => void arrivals.push(performance.now()) });
    return { ...tokenTimes(start, arrivals), tokens: ids.length, text: '', ids };
  } finally {
    session.close();
  }
}

export interface ModelResult {
  model: string;
  description: string;
  params: number;
  adapter_bytes: number;
  repeats: number;
  max_tokens: number;
  tokens: number;
  edge_ttft_ms: number;
  direct_ttft_ms: number;
  edge_per_token_ms: number;
  direct_per_token_ms: number;
  edge_vs_direct_ttft: number;
  edge_vs_direct_per_token: number;
  same_text: boolean;
  isolate_first_request_ms: number;
  first_adapter_in_isolate_ttft_ms: number;
  adapter_cold_ttft_ms: number;
  adapter_warm_ttft_ms: number;
  adapter_cold_load_ms: number;
  edge_ttft_samples_ms: number[];
  direct_ttft_samples_ms: number[];
  edge_per_token_samples_ms: number[];
  direct_per_token_samples_ms: number[];
  cold_load_samples_ms: number[];
}

const DESCRIPTIONS: Record<Plan['models'][number], string> = {
  stories260K: 'stories260K (llama2.c, converted)',
  'random-30m': "random Llama of init-random's 30m shape (seed 0, non-text token rows zeroed, stories260K's tokenizer)",
};

async function benchModel(name: Plan['models'][number], modelDir: string, s3: { url: string; bucket: string }, bundle: string, plan: Plan): Promise<ModelResult> {
  const secrets = newSecrets();
  const server: ServeProcess = await spawnServe({ modelDir, secret: secrets.SESSION_SECRET, port: 0 });
  let edge: LocalEdge | undefined;
  try {
    const env = localEdgeVars(server.url, s3, secrets, { REQUESTS_PER_MINUTE: '100000' });
    edge = await startEdge({ bundle, env, port: 0, stateDir: join(dirname(bundle), 'edge-state') });
    const { config, tokenizer } = await serverModel(server.url);
    const promptIds = tokenizer.encode(PROMPT);
    const files = benchLoraFiles(config);
    const adapter = readPeftAdapter(JSON.parse(files.configJson), files.safetensors, { config });
    const client = new EdgeClient(edge.url, secrets.ADMIN_TOKEN);
    await client.createTenant(`bench-${name}`);
    for (const a of [ADAPTER, WARMUP_ADAPTER, ...Array.from({ length: plan.coldLoads }, (_, i) => coldAdapter(i))]) await client.upload(a, files);
    log(`${name}: stack up (server ${server.url}, edge ${edge.url}), ${plan.coldLoads + 2} adapters uploaded`);

    // Warm-up (JIT on both sides, the server's sessions); not measured.
    for (let i = 0; i < 2; i++) {
      await client.stream(ADAPTER, plan.maxTokens);
      await direct(server.url, secrets.SESSION_SECRET, config, adapter, promptIds, plan.maxTokens);
    }
    const edgeRuns: Run[] = [];
    const directRuns: (Run & { ids: number[] })[] = [];
    for (let i = 0; i < plan.repeats; i++) {
      edgeRuns.push(await client.stream(ADAPTER, plan.maxTokens));
      directRuns.push(await direct(server.url, secrets.SESSION_SECRET, config, adapter, promptIds, plan.maxTokens));
    }
    const med = (runs: Run[], k: keyof TokenTimes) => median(runs.map((r) => r[k]));
    const edgeTtft = med(edgeRuns, 'ttftMs');
    const directTtft = med(directRuns, 'ttftMs');
    const edgeTok = med(edgeRuns, 'perTokenMs');
    const directTok = med(directRuns, 'perTokenMs');
    log(`${name}: TTFT edge ${fmt(edgeTtft)} ms, direct ${fmt(directTtft)} ms; per token edge ${fmt(edgeTok)} ms, direct ${fmt(directTok)} ms`);

    // Cold loads: a fresh isolate (empty adapter cache), warmed on everything but the adapters' weights.
    await edge.stop();
    edge = undefined;
    edge = await startEdge({ bundle, env, port: 0, stateDir: join(dirname(bundle), 'edge-state') });
    client.url = edge.url;
    const short = 2;
    const baseName = await serverInfoName(server.url);
    const t0 = performance.now();
    await client.stream(baseName, short);
    const isolateFirst = performance.now() - t0;
    const firstAdapter = (await client.stream(WARMUP_ADAPTER, short)).ttftMs;
    await client.stream(ADAPTER, short); // into the cache
    const cold: number[] = [];
    const warm: number[] = [];
    for (let i = 0; i < plan.coldLoads; i++) {
      cold.push((await client.stream(coldAdapter(i), short)).ttftMs);
      warm.push((await client.stream(ADAPTER, short)).ttftMs);
    }
    const coldLoad = median(cold) - median(warm);
    log(`${name}: adapter cold load ${fmt(coldLoad)} ms (cold TTFT ${fmt(median(cold))}, warm ${fmt(median(warm))})`);

    const directText = (() => {
      const ids = directRuns[0].ids;
      return tokenizer.decode([...promptIds, ...ids]).slice(tokenizer.decode(promptIds).length);
    })();
    return {
      model: name,
      description: DESCRIPTIONS[name],
      params: parameterCount(config),
      adapter_bytes: files.safetensors.length + files.configJson.length,
      repeats: plan.repeats,
      max_tokens: plan.maxTokens,
      tokens: edgeRuns[0].tokens,
      edge_ttft_ms: edgeTtft,
      direct_ttft_ms: directTtft,
      edge_per_token_ms: edgeTok,
      direct_per_token_ms: directTok,
      edge_vs_direct_ttft: edgeTtft / directTtft,
      edge_vs_direct_per_token: edgeTok / directTok,
      same_text: edgeRuns.every((r) => r.text === directText) && directRuns.every((r) => r.tokens === edgeRuns[0].tokens),
      isolate_first_request_ms: isolateFirst,
      first_adapter_in_isolate_ttft_ms: firstAdapter,
      adapter_cold_ttft_ms: median(cold),
      adapter_warm_ttft_ms: median(warm),
      adapter_cold_load_ms: coldLoad,
      edge_ttft_samples_ms: edgeRuns.map((r) => r.ttftMs),
      direct_ttft_samples_ms: directRuns.map((r) => r.ttftMs),
      edge_per_token_samples_ms: edgeRuns.map((r) => r.perTokenMs),
      direct_per_token_samples_ms: directRuns.map((r) => r.perTokenMs),
      cold_load_samples_ms: cold.map((c, i) => c - warm[i]),
    };
  } finally {
    await edge?.stop();
    await server.stop();
  }
}

async function serverInfoName(serverUrl: string): Promise<string> {
  const res = await fetch(`${serverUrl}/v1/info`);
  return ((await res.json()) as { name: string }).name;
}

export async function benchEdge(plan: Plan): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  const dirs = new Map<string, string>();
  for (const m of plan.models) dirs.set(m, m === 'stories260K' ? await ensureDefaultModel(STORIES_DIR) : await ensureRandom30m(RANDOM_30M_DIR));
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
