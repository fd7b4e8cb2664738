/**
 * One model's part of `bench edge` (edge.ts): a `symbiosis serve` process and the edge in workerd
 * over the shared s3rver, a tenant with the bench LoRA uploaded under several names, then the
 * edge-vs-direct requests and the adapter cold loads in a restarted edge.
 */
import { copyFile, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readPeftAdapter, writePeftAdapter } from '../../shared/adapters';
import { randomModel } from '../../shared/model/random';
import type { ModelConfig } from '../../shared/model/types';
import { ensureDefaultModel } from '../../shared/node/default-model';
import { Tokenizer } from '../../shared/tokenizer';
import { benchLora } from './bench-lora';
import { direct, EdgeClient, log, PROMPT, type Run, type TokenTimes } from './edge-client';
import { fmt, median } from './stats';
import { parameterCount, presetConfig, writeRandomModelDir } from '../init-random';
import { serverModel } from '../split-generate';
import { startEdge, type LocalEdge } from '../stack/edge';
import { localEdgeVars, newSecrets } from '../stack';
import { spawnServe, type ServeProcess } from '../stack/serve-process';

const ADAPTER = 'bench-lora';
const WARMUP_ADAPTER = 'bench-warmup';
const coldAdapter = (i: number) => `bench-cold-${i}`;

export interface Plan {
  quick: boolean;
  models: ('stories260K' | 'random-30m')[];
  /** Measured requests per side (after warm-up), interleaved edge / direct. */
  repeats: number;
  maxTokens: number;
  /** Adapters loaded cold after the restart, each paired with a warm request. */
  coldLoads: number;
}

/**
 * init-random's 30m preset (seed 0) with stories260K's tokenizer copied in, written once under
 * .dev/models. The shape, and so the cost per token, is the preset's; only the tied
 * embedding / LM-head rows of ids that do not decode to text by themselves (specials, byte
 * fallbacks, "▁", and everything past the tokenizer's 512) are zeroed, so greedy decoding picks
 * a text piece every step and the edge streams one SSE chunk per token, never stopping at EOS.
 */
export async function ensureRandom30m(dir: string, storiesDir: string): Promise<string> {
  if (['config.json', 'model.safetensors', 'tokenizer.json'].every((f) => existsSync(join(dir, f)))) return dir;
  const stories = await ensureDefaultModel(storiesDir);
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

export async function benchModel(name: Plan['models'][number], modelDir: string, s3: { url: string; bucket: string }, bundle: string, plan: Plan): Promise<ModelResult> {
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

