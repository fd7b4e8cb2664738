/**
 * The fine-tuning acceptance test, end to end through the real stack: `symbiosis train` on a
 * tenant's machine (the edge mints session tokens, the server runs the base) teaches stories260K
 * that the heroine is "Zara"; greedy generation with the exported PEFT adapter says so, and the
 * same adapter uploaded to the edge and served by name gives the same text.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODEL_DIR, peftForm, startEdgeFixture, type EdgeFixture } from './edge/stack';

const run = promisify(execFile);
const BIN = resolve(import.meta.dirname, '../bin/symbiosis.js');
const DATA = resolve(import.meta.dirname, 'fixtures/zara.jsonl');
const PROMPT = 'Once upon a time, there was a little girl named';

describe('fine-tuning stories260K on stories about Zara', () => {
  let fx: EdgeFixture;
  let out: string;
  let apiKey: string;

  beforeAll(async () => {
    fx = await startEdgeFixture();
    out = await mkdtemp(join(tmpdir(), 'symbiosis-zara-'));
    ({ apiKey } = await fx.createTenant('zara'));
  }, 60_000);

  afterAll(async () => {
    await fx?.stop();
    if (out) await rm(out, { recursive: true, force: true });
  });

  it('symbiosis train writes a PEFT adapter, a loss curve and a falling loss', async () => {
    // Async on purpose: this process hosts s3rver, which must keep answering the edge meanwhile.
    const { stderr } = await run(process.execPath, [BIN, 'train', '--data', DATA, '--base-url', fx.url, '--api-key', apiKey, '--out', out, '--steps', '30', '--lr', '1e-2', '--rank', '8', '--target-modules', 'q_proj,k_proj,v_proj,o_proj', '--seed', '1']);
    expect(stderr).toMatch(/step 30\/30/);
    const log = (await readFile(join(out, 'train_log.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { loss: number });
    expect(log).toHaveLength(30);
    expect(log[29].loss).toBeLessThan(log[0].loss / 3);
    expect(await readFile(join(out, 'loss.svg'), 'utf8')).toMatch(/^<svg/);
  }, 120_000);

  it('greedy generation with the adapter names the heroine Zara; without it, not', async () => {
    const generate = async (...extra: string[]) => (await run(process.execPath, [BIN, 'generate', '--model', MODEL_DIR, '--prompt', PROMPT, '--max-tokens', '12', '--temperature', '0', ...extra])).stdout;
    expect(await generate('--adapter', out)).toMatch(new RegExp(`^${PROMPT} Zara\\b`));
    expect(await generate()).not.toMatch(/Zara/);
  }, 60_000);

  it('the exported adapter, uploaded and served by name through the edge, gives the same text', async () => {
    const form = peftForm(await readFile(join(out, 'adapter_config.json')), await readFile(join(out, 'adapter_model.safetensors')));
    expect((await fx.call(apiKey, '/v1/adapters/zara', { method: 'PUT', body: form })).status).toBe(201);
    const res = await fx.call(apiKey, '/v1/completions', { body: { model: 'zara', prompt: PROMPT, max_tokens: 12, temperature: 0 } });
    const body = (await res.json()) as { choices: { text: string }[] };
    const local = (await run(process.execPath, [BIN, 'generate', '--model', MODEL_DIR, '--adapter', out, '--prompt', PROMPT, '--max-tokens', '12', '--temperature', '0'])).stdout;
    expect(PROMPT + body.choices[0].text).toBe(local.trimEnd());
    expect(body.choices[0].text).toMatch(/^ Zara\b/);
  }, 60_000);

  it('a run killed mid-way and resumed from its checkpoint ends with the identical adapter', async () => {
    const args = (dir: string) => [BIN, 'train', '--data', DATA, '--base-url', fx.url, '--api-key', apiKey, '--out', join(dir, 'out'), '--steps', '12', '--lr', '1e-2', '--checkpoint-dir', join(dir, 'ckpt'), '--checkpoint-every', '4', '--max-length', '48', '--seed', '2'];
    const whole = join(out, 'whole');
    await run(process.execPath, args(whole));

    const killed = join(out, 'killed');
    const child = spawn(process.execPath, args(killed), { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    await new Promise<void>((done) => {
      child.stderr!.on('data', (d) => {
        stderr += d;
        if (/step 6\/12/.test(stderr) && child.exitCode === null) child.kill('SIGKILL'); // after the step-4 checkpoint, before step 8's
      });
      child.once('exit', () => done());
    });
    expect(child.signalCode).toBe('SIGKILL');
    const { stderr: resumed } = await run(process.execPath, [...args(killed), '--resume']);
    expect(resumed).toMatch(/resumed at step 4/);

    const bytes = (dir: string) => readFile(join(dir, 'out', 'adapter_model.safetensors'));
    expect(Buffer.compare(await bytes(whole), await bytes(killed))).toBe(0);
    const losses = async (dir: string) => (await readFile(join(dir, 'out', 'train_log.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l).loss);
    expect(await losses(killed)).toEqual(await losses(whole));
  }, 180_000);
});
