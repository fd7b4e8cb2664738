/**
 * `symbiosis train` relaunched with the engine's V8 flags (serve's relaunch is tested end to end in
 * test/split-server.test.ts): the child carries them, goes when its launcher is killed, and
 * takes over the launcher's debugger port when started under --inspect.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINE_NODE_FLAGS } from './node-flags';
import { cliChildOf, commandLine, isAlive, waitUntil } from './testing';

const BIN = resolve(import.meta.dirname, '../../bin/symbiosis.js');

describe('symbiosis train without the engine V8 flags', () => {
  let dir: string;
  const sockets: Socket[] = [];
  // An edge that takes connections and never answers: the training job waits on it.
  const silent = createServer((s) => void sockets.push(s));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'symbiosis-relaunch-'));
    await writeFile(join(dir, 'data.jsonl'), '{"text": "Once upon a time"}\n');
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  });

  afterAll(async () => {
    for (const s of sockets) s.destroy();
    silent.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('trains in a child started with them, which goes when its launcher is killed', async () => {
    const { port } = silent.address() as { port: number };
    const launcher = spawn(process.execPath, [BIN, 'train', '--data', join(dir, 'data.jsonl'), '--base-url', `http://127.0.0.1:${port}`, '--api-key', 'k', '--out', join(dir, 'out')], { stdio: 'ignore' });
    try {
      await waitUntil(() => sockets.length > 0); // the child is up and waiting on the edge
      const child = (await cliChildOf(launcher.pid!))!;
      expect(child).toBeDefined();
      expect(await commandLine(child)).toEqual(expect.arrayContaining([...ENGINE_NODE_FLAGS, 'train']));
      launcher.kill('SIGKILL');
      await waitUntil(() => !isAlive(child));
      expect(isAlive(child)).toBe(false);
    } finally {
      launcher.kill('SIGKILL');
    }
  }, 30_000);

  it('started under --inspect, hands the debugger port to the child', async () => {
    const { port } = silent.address() as { port: number };
    const inspectPort = await freePort();
    const launcher = spawn(process.execPath, [`--inspect=127.0.0.1:${inspectPort}`, BIN, 'train', '--data', join(dir, 'data.jsonl'), '--base-url', `http://127.0.0.1:${port}`, '--api-key', 'k', '--out', join(dir, 'out2')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    launcher.stderr!.on('data', (d) => (stderr += d));
    const listening = () => stderr.split(`Debugger listening on ws://127.0.0.1:${inspectPort}/`).length - 1;
    try {
      const before = sockets.length;
      await waitUntil(() => sockets.length > before); // the child is up
      await waitUntil(() => listening() === 2);
      expect(listening()).toBe(2); // the launcher's, then the child's on the same port
      expect(stderr).not.toMatch(/address already in use/);
    } finally {
      launcher.kill('SIGKILL');
    }
  }, 30_000);
});

/** A port nothing listens on now. */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const { port } = probe.address() as { port: number };
  await new Promise((r) => probe.close(r));
  return port;
}
