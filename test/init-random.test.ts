/** `symbiosis init-random` through the real CLI: deterministic bytes, a loadable directory, usage errors. */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { presetConfig } from '../cli/init-random';
import { loadModelDirectory } from '../shared/model/directory';
import { randomModel } from '../shared/model/random';
import { weightsToTensors } from '../shared/model/weights';
import { folderSource } from '../shared/node/files';
import { serializeSafetensors } from '../shared/safetensors';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');
const symbiosis = (...args: string[]) => run('node', [join(ROOT, 'bin/symbiosis.js'), ...args], { cwd: ROOT });

describe('symbiosis init-random', () => {
  let dir: string;
  let stderr: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'symbiosis-init-random-'));
    // Sequential: two concurrent tsx start-ups on 2 cores are no faster.
    stderr = (await symbiosis('init-random', '--preset', 'tiny', '--out', join(dir, 'a'), '--seed', '7')).stderr;
    await symbiosis('init-random', '--preset', 'tiny', '--out', join(dir, 'b'), '--seed', '7');
    await symbiosis('init-random', '--preset', 'tiny', '--out', join(dir, 'c'), '--seed', '8');
  }, 60_000);

  it('writes the same bytes for the same seed and different ones for another seed', async () => {
    expect((await readdir(join(dir, 'a'))).sort()).toEqual(['config.json', 'generation_config.json', 'model.safetensors']);
    for (const name of ['config.json', 'generation_config.json', 'model.safetensors']) {
      expect(Buffer.compare(await readFile(join(dir, 'a', name)), await readFile(join(dir, 'b', name))), name).toBe(0);
    }
    const a = await readFile(join(dir, 'a', 'model.safetensors'));
    const c = await readFile(join(dir, 'c', 'model.safetensors'));
    expect(a.byteLength).toBe(c.byteLength);
    expect(Buffer.compare(a, c)).not.toBe(0);
  });

  it('streams exactly what serializeSafetensors writes for the same random model', async () => {
    const model = randomModel(presetConfig('tiny'), 7);
    const expected = serializeSafetensors(weightsToTensors(model), { format: 'pt' });
    expect(Buffer.compare(await readFile(join(dir, 'a', 'model.safetensors')), expected)).toBe(0);
  });

  it('loads as a model directory with the preset config, and prints the parameter count', async () => {
    const { model } = await loadModelDirectory(folderSource(join(dir, 'a')));
    expect(model.config).toEqual(presetConfig('tiny'));
    expect(model.config).toMatchObject({ dim: 64, nLayers: 2, architecture: 'LlamaForCausalLM' });
    expect(model.weights.layers).toHaveLength(2);
    const n = [...weightsToTensors(model).values()].reduce((s, t) => s + t.data.length, 0);
    expect(stderr).toContain(`${n.toLocaleString('en-US')} parameters`);
    // The weights are the seeded random model's, exactly.
    expect(model.weights.layers[1].wDown).toEqual(randomModel(presetConfig('tiny'), 7).weights.layers[1].wDown);
  });

  it('rejects an unknown preset with exit code 2, naming it', async () => {
    const err = await symbiosis('init-random', '--preset', 'huge', '--out', join(dir, 'x')).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(2);
    expect(err?.stderr).toContain('"huge"');
    expect(err?.stderr).toContain('tiny');
  });
});
