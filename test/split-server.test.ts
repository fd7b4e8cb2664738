/**
 * Split execution over a real WebSocket to a real `symbiosis serve` process with stories260K:
 * each adapter type applied at the taps by the split client gives the same greedy tokens as
 * the reference with the merged model (prompt tuning: as the reference fed the virtual tokens),
 * logits within 1e-4 relative; SIGTERM ends open sessions with a clean error frame. Runs once
 * per backend: cpu, and webgpu (on lavapipe here and in CI: a missing adapter fails, not skips).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { relativeError as relErr } from '../shared/util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mergeAdapter, writePeftAdapter, type PeftAdapter } from '../shared/adapters';
import { loadModelDirectory } from '../shared/model/directory';
import type { Model } from '../shared/model/types';
import { folderSource } from '../shared/node/files';
import { createKVCache, forward } from '../shared/reference/forward';
import { SplitSession } from '../shared/split';
import { connect } from '../gpu-server/client';
import { probeAdapter } from '../gpu-server/backend';
import { distinctAdapters, testAdapters, testToken } from '../gpu-server/testing/fixtures';
import { ENGINE_NODE_FLAGS } from '../cli/stack/node-flags';
import { cliChildOf, commandLine, isAlive, waitUntil } from '../cli/stack/testing';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');
const SRC = resolve(ROOT, '../shared/models/stories260K');
const SECRET = 'e2e-secret-0123456789abcdef';
const PROMPT = [1, 403, 407, 261, 378]; // <s> Once upon a time

/** Converts stories260K into a Hugging Face directory under a fresh temporary folder. */
async function convertStories(): Promise<{ dir: string; modelDir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'symbiosis-split-'));
  const modelDir = join(dir, 's260');
  await run('node', [join(ROOT, 'bin/symbiosis.js'), 'convert-llama2c', join(SRC, 'stories260K.bin'), join(SRC, 'tok512.bin'), modelDir]);
  return { dir, modelDir };
}

/** Spawns `symbiosis serve` and waits for its "listening on" line; `log` is its stderr so far. */
async function startServe(modelDir: string, backend: string, extra: string[] = []): Promise<{ server: ChildProcess; url: string; log: () => string }> {
  const server = spawn('node', [join(ROOT, 'bin/symbiosis.js'), 'serve', '--model', modelDir, '--port', '0', '--backend', backend, ...extra], { env: { ...process.env, SESSION_SECRET: SECRET } });
  let err = '';
  const url = await new Promise<string>((resolveUrl, reject) => {
    server.stderr!.on('data', (d) => {
      err += d;
      const m = /listening on (http:\/\/\S+)/.exec(err);
      if (m) resolveUrl(m[1]);
    });
    server.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${err}`)));
  });
  return { server, url, log: () => err };
}

describe.each(['cpu', 'webgpu'])('split execution against a real symbiosis serve process (stories260K, %s backend)', (backendKind) => {
  let dir: string;
  let modelDir: string;
  let model: Model;
  let server: ChildProcess;
  let url: string;
  let log: () => string;
  let adapters: Record<string, PeftAdapter>;

  beforeAll(async () => {
    ({ dir, modelDir } = await convertStories());
    model = (await loadModelDirectory(folderSource(modelDir))).model;
    adapters = testAdapters(model);
    ({ server, url, log } = await startServe(modelDir, backendKind));
  });

  afterAll(() => {
    if (server.exitCode === null) server.kill('SIGKILL');
  });

  async function open(adapter: PeftAdapter | undefined, maxContext = 64) {
    return SplitSession.open(await connect(url), { token: await testToken('e2e', { maxContext: 512 }, SECRET), mode: 'inference', maxContext, config: model.config, adapter, sampling: { temperature: 0 } });
  }

  it.each(['lora', 'rslora', 'dora', 'ia3', 'prompt'])('%s: greedy tokens and logits equal the reference with the merged model', async (name) => {
    const adapter = adapters[name];
    const oracle = name === 'prompt' ? model : mergeAdapter(model, adapter);
    const oracleAdapter = name === 'prompt' ? adapter : undefined;
    const session = await open(adapter);
    const cache = createKVCache(model.config, 64);
    let step = await session.forward(PROMPT, { returnLogits: true });
    let ref = forward(oracle, PROMPT, cache, oracleAdapter);
    const tokens: number[] = [];
    for (let i = 0; i < 12; i++) {
      expect(relErr(step.logits!, ref)).toBeLessThan(1e-4);
      const last = ref.subarray(ref.length - model.config.vocabSize);
      let best = 0;
      for (let j = 1; j < last.length; j++) if (last[j] > last[best]) best = j;
      expect(step.token).toBe(best);
      tokens.push(step.token!);
      step = await session.forward([step.token!], { returnLogits: true });
      ref = forward(oracle, [tokens[tokens.length - 1]], cache, oracleAdapter);
    }
    session.close();
  });

  // The CLI's client path does not depend on the backend: once, on cpu, is enough.
  it.runIf(backendKind === 'cpu')('generate --server with --adapter prints what generate prints with the merged model', async () => {
    const adapterDir = join(dir, 'lora');
    const { configJson, safetensors } = writePeftAdapter(adapters.lora);
    await mkdir(adapterDir, { recursive: true });
    await writeFile(join(adapterDir, 'adapter_config.json'), configJson);
    await writeFile(join(adapterDir, 'adapter_model.safetensors'), safetensors);
    const cli = (...a: string[]) => run('node', [join(ROOT, 'bin/symbiosis.js'), ...a], { cwd: ROOT });
    await cli('merge', '--model', modelDir, '--adapter', adapterDir, '--out', join(dir, 'merged'));
    const args = ['--prompt', 'Once upon a time', '--max-tokens', '30', '--temperature', '0'];
    const split = (await cli('generate', '--server', url, '--secret', SECRET, '--adapter', adapterDir, ...args)).stdout;
    const merged = (await cli('generate', '--model', join(dir, 'merged'), ...args)).stdout;
    expect(split).toBe(merged);
    const base = (await cli('generate', '--server', url, '--secret', SECRET, ...args)).stdout;
    expect(base).toBe((await cli('generate', '--model', modelDir, ...args)).stdout);
    expect(base).not.toBe(split);
  });

  // The server draws with its own softmax (gpu-server/backend/wasm/tempered-softmax.ts) on logits
  // read back to the host on either backend: once, on cpu, against the reference's draws.
  it.runIf(backendKind === 'cpu')('generate --server samples what generate samples (same seed, temperature, top-p, top-k)', async () => {
    const cli = (...a: string[]) => run('node', [join(ROOT, 'bin/symbiosis.js'), ...a], { cwd: ROOT });
    for (const settings of [['--temperature', '0.8', '--top-p', '0.9'], ['--temperature', '1.3', '--top-p', '1'], ['--temperature', '0.7', '--top-k', '20', '--top-p', '0.95']]) {
      const args = (seed: number) => ['--prompt', 'Once upon a time', '--max-tokens', '40', '--seed', String(seed), ...settings];
      const split = (await cli('generate', '--server', url, '--secret', SECRET, ...args(7))).stdout;
      expect(split, settings.join(' ')).toBe((await cli('generate', '--model', modelDir, ...args(7))).stdout);
      expect(split, 'another seed draws another story').not.toBe((await cli('generate', '--server', url, '--secret', SECRET, ...args(8))).stdout);
    }
  });

  // Batching is backend-independent above linear(); on lavapipe this test alone takes ~15 s, and
  // webgpu/index.test.ts already checks that stacked rows give the rows of separate calls.
  it.runIf(backendKind === 'cpu')('32 concurrent sessions with 32 different adapters (mixed types and ranks) each get exactly what they get alone', async () => {
    const many = distinctAdapters(model, 32);
    const decode = async (i: number) => {
      const session = await open(many[i]);
      const out: number[] = [];
      let step = await session.forward(PROMPT);
      for (let t = 0; t < 8; t++) {
        out.push(step.token!);
        step = await session.forward([step.token!]);
      }
      session.close();
      return out;
    };
    const alone: number[][] = [];
    for (let i = 0; i < 32; i++) alone.push(await decode(i));
    const together = await Promise.all(Array.from({ length: 32 }, (_, i) => decode(i)));
    expect(together).toEqual(alone);
    expect(new Set(alone.map((t) => t.join())).size).toBeGreaterThan(8); // the adapters really differ
  });

  it('serves health, info and Prometheus metrics', async () => {
    expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ ok: true });
    const info = await (await fetch(`${url}/v1/info`)).json();
    expect(info).toMatchObject({ protocol: 1, model: { dim: 64, nLayers: 5 }, backend: { name: backendKind }, taps: ['attn.in', 'attn.out', 'mlp.in', 'mlp.out'] });
    if (backendKind === 'webgpu') expect(info.backend.device).toMatch(/, f(16|32) weights$/); // the adapter, described
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/symbiosis_tokens_total\{mode="inference"\} [1-9]/);
    expect(metrics).toMatch(/symbiosis_batch_rows_count\{group="qkv",direction="forward"\} [1-9]/);
    expect(metrics).toMatch(/symbiosis_activation_pool_bytes [1-9]/); // the steps above gave theirs back
  });

  it('SIGTERM gives an open session a clean shutting_down error, and the server exits', async () => {
    const session = await open(undefined);
    await session.forward(PROMPT);
    const exited = new Promise<number | null>((r) => server.on('exit', r));
    server.kill('SIGTERM');
    // Once the server has the signal (forwarded to it by its launcher: cli/stack/relaunch.ts), not before.
    await waitUntil(() => /SIGTERM, closing/.test(log()));
    expect(log()).toMatch(/SIGTERM, closing/);
    await expect(session.forward([5])).rejects.toMatchObject({ code: 'shutting_down' });
    expect(await exited).toBe(0);
  });
});

describe('symbiosis serve --backend auto', () => {
  it('picks webgpu only on a hardware adapter, says so, and shows the choice in /v1/info', async () => {
    const { modelDir } = await convertStories();
    const adapter = await probeAdapter();
    const expected = adapter && !adapter.software ? 'webgpu' : 'cpu';
    const { server, url, log } = await startServe(modelDir, 'auto');
    try {
      expect(log()).toMatch(new RegExp(`--backend auto chose ${expected} \\(`));
      const info = await (await fetch(`${url}/v1/info`)).json();
      expect(info.backend.name).toBe(expected);
    } finally {
      server.kill('SIGKILL');
    }
  });
});

describe('symbiosis serve --threads', () => {
  it("sets the cpu backend's onnxruntime threads, shown in /v1/info, and is refused by name for another backend", async () => {
    const { modelDir } = await convertStories();
    const { server, url } = await startServe(modelDir, 'cpu', ['--threads', '1']);
    try {
      const info = await (await fetch(`${url}/v1/info`)).json();
      expect(info.backend.device).toMatch(/, 1 thread, /);
    } finally {
      server.kill('SIGKILL');
    }
    const refused = run('node', [join(ROOT, 'bin/symbiosis.js'), 'serve', '--model', modelDir, '--backend', 'reference', '--threads', '2'], { env: { ...process.env, SESSION_SECRET: SECRET } });
    await expect(refused).rejects.toMatchObject({ stderr: expect.stringMatching(/--threads applies to the cpu backend, not reference/) });
  });
});

describe('symbiosis serve without the engine V8 flags (cli/stack/node-flags.ts)', () => {
  it('serves from a child started with them, which stops when its launcher is killed', async () => {
    const { modelDir } = await convertStories();
    const { server, url } = await startServe(modelDir, 'cpu');
    const child = (await cliChildOf(server.pid!))!;
    expect(child).toBeDefined();
    expect(await commandLine(child)).toEqual(expect.arrayContaining([...ENGINE_NODE_FLAGS, 'serve', '--model', modelDir]));
    expect((await fetch(`${url}/healthz`)).ok).toBe(true);
    server.kill('SIGKILL'); // no signal to forward: the child must notice its launcher is gone
    await waitUntil(() => !isAlive(child));
    expect(isAlive(child)).toBe(false);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });
});
