/**
 * bench serve's tenants' process against a real server: the same greedy tokens as the same
 * sessions decoded in this process, LoRA seeds rebuilt alike there, and an error comes back; it
 * runs under the engine's V8 flags.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomModel, tinyConfig } from '../../shared/model/random';
import { createBackend } from '../../gpu-server/backend';
import type { Backend } from '../../gpu-server/backend/types';
import { startServer, type RunningServer } from '../../gpu-server/server';
import { benchLora } from './bench-lora';
import { decode } from './decode';
import { TenantProcess } from './tenant-process';
import { ENGINE_NODE_FLAGS } from '../stack/node-flags';
import { commandLine } from '../stack/testing';

const config = tinyConfig({ vocabSize: 128 });
const model = randomModel(config, 3);
const secret = 'tenant-process-test-secret';

describe('TenantProcess', () => {
  let backend: Backend;
  let server: RunningServer;
  const tenants = new TenantProcess();
  beforeAll(async () => {
    backend = await createBackend(model, 'reference');
    server = await startServer({ model, name: 'tiny', backend, secret, port: 0 });
  });
  afterAll(async () => {
    await tenants.stop();
    await server?.close();
    await backend?.dispose();
  });

  it('decodes what this process decodes, base and LoRA sessions alike', async () => {
    const seeds = [null, 3, null, 5];
    const there = await tenants.decode({ url: server.url, secret, config, loraSeeds: seeds, limits: { steps: 6 } });
    const here = await decode(server.url, secret, config, seeds.map((s) => (s === null ? undefined : benchLora(config, s))), { steps: 6 });
    expect(there.tokens).toBe(24);
    expect(there.ids).toEqual(here.ids);
    expect(there.ids[1]).not.toEqual(there.ids[0]); // the LoRA changes the output
  });

  it("runs under the engine processes' V8 flags", async () => {
    expect(await commandLine(tenants.pid!)).toEqual(expect.arrayContaining([...ENGINE_NODE_FLAGS]));
  });

  it("reports a failed decode as an error, and stays usable", async () => {
    await expect(tenants.decode({ url: server.url, secret: 'wrong-secret-0123456789', config, loraSeeds: [null], limits: { steps: 2 } })).rejects.toThrow(/tenants' process/);
    const again = await tenants.decode({ url: server.url, secret, config, loraSeeds: [null], limits: { steps: 2 } });
    expect(again.tokens).toBe(2);
  });
});
