/**
 * `npm start` as a user runs it: the whole local stack comes up, the official `openai` client
 * works against it with the demo tenant's key from local.json, and Ctrl-C stops everything.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = resolve(import.meta.dirname, '../bin/symbiosis.js');

describe('symbiosis start (npm start)', () => {
  let dir: string;
  let child: ChildProcess;
  let stdout = '';
  let local: { url: string; apiKey: string; adminToken: string };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'symbiosis-start-'));
    child = spawn(process.execPath, [BIN, 'start', '--dir', dir, '--port', '0', '--server-port', '0', '--s3-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    await new Promise<void>((ready, fail) => {
      child.stdout!.on('data', (d) => {
        stdout += d;
        if (/^ready$/m.test(stdout)) ready();
      });
      child.once('exit', (code) => fail(new Error(`start exited with ${code}: ${stderr}`)));
    });
    local = JSON.parse(await readFile(join(dir, 'local.json'), 'utf8'));
  }, 120_000);

  afterAll(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('writes local.json and prints a curl example for it', () => {
    expect(local).toMatchObject({ url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/), apiKey: expect.stringMatching(/^sym_/), adminToken: expect.any(String) });
    expect(stdout).toContain(`curl ${local.url}/v1/completions`);
  });

  it('serves the official openai client: models, completion, chat, streaming', async () => {
    const client = new OpenAI({ baseURL: `${local.url}/v1`, apiKey: local.apiKey });
    expect((await client.models.list()).data.map((m) => m.id)).toEqual(['stories260K']);
    const completion = await client.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 12, temperature: 0 });
    expect(completion.choices[0].text).toMatch(/^, there was a little girl/);
    const chat = await client.chat.completions.create({ model: 'stories260K', messages: [{ role: 'user', content: 'A story, please.' }], max_tokens: 8 });
    expect(chat.choices[0].message.content?.length).toBeGreaterThan(0);
    let streamed = '';
    for await (const chunk of await client.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 12, temperature: 0, stream: true })) streamed += chunk.choices[0]?.text ?? '';
    expect(streamed).toBe(completion.choices[0].text);
  });

  it('stops everything on Ctrl-C', async () => {
    const info = (await (await fetch(`${local.url}/healthz`)).json()) as object;
    expect(info).toEqual({ ok: true });
    const serverUrl = /base-model server\s+(http:\/\/\S+)/.exec(stdout)![1];
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    child.kill('SIGINT');
    expect([0, 130]).toContain(await exited); // 130: the conventional status after SIGINT
    await expect(fetch(`${local.url}/healthz`)).rejects.toThrow();
    // The base-model server is a separate process: it must be gone too.
    await expect.poll(() => fetch(`${serverUrl}/healthz`).then(() => 'up', () => 'down'), { timeout: 10_000 }).toBe('down');
  });
});
