/**
 * End to end through the real CLI: llama2.c checkpoint → HF directory → generation, compared with
 * the known-good output of llama2.c's run.c (../shared/models/stories260K/README.md); then a LoRA
 * applied at the taps against the same LoRA merged into the weights.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLora, writePeftAdapter } from '../shared/adapters';
import { parseHfConfig } from '../shared/model/config';
import { readFileSync } from 'node:fs';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');
const MODEL_SRC = resolve(ROOT, '../shared/models/stories260K');
const KNOWN_GOOD =
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.';

const symbiosis = (...args: string[]) => run('node', [join(ROOT, 'bin/symbiosis.js'), ...args], { cwd: ROOT });

describe('stories260K through the CLI', () => {
  let dir: string;
  let modelDir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'symbiosis-e2e-'));
    modelDir = join(dir, 's260');
    await symbiosis('convert-llama2c', join(MODEL_SRC, 'stories260K.bin'), join(MODEL_SRC, 'tok512.bin'), modelDir);
  });

  it('generates greedily exactly what llama2.c generates', async () => {
    const { stdout } = await symbiosis('generate', '--model', modelDir, '--prompt', 'Once upon a time', '--max-tokens', '40', '--temperature', '0');
    const text = stdout.replace(/\n$/, '');
    expect(text.length).toBeGreaterThan('Once upon a time'.length + 60);
    expect(KNOWN_GOOD.startsWith(text) || text.startsWith(KNOWN_GOOD)).toBe(true);
  });

  it('applies a LoRA at the taps exactly as the merged model computes it', async () => {
    const config = parseHfConfig(JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8')));
    const lora = createLora({ modelConfig: config, r: 4, alpha: 8, targetModules: ['q_proj', 'v_proj', 'down_proj'], seed: 5 });
    // PEFT starts B at zero; give it weight so the adapter changes the output.
    for (const [name, p] of lora.params) if (name.includes('lora_B')) for (let i = 0; i < p.length; i++) p[i] = Math.sin(i * 0.37 + name.length) * 0.5;
    const adapterDir = join(dir, 'lora');
    const { configJson, safetensors } = writePeftAdapter(lora);
    await mkdir(adapterDir, { recursive: true });
    await writeFile(join(adapterDir, 'adapter_config.json'), configJson);
    await writeFile(join(adapterDir, 'adapter_model.safetensors'), safetensors);
    await symbiosis('merge', '--model', modelDir, '--adapter', adapterDir, '--out', join(dir, 'merged'));

    const args = ['--prompt', 'Once upon a time', '--max-tokens', '30', '--temperature', '0'];
    const withAdapter = (await symbiosis('generate', '--model', modelDir, '--adapter', adapterDir, ...args)).stdout;
    const merged = (await symbiosis('generate', '--model', join(dir, 'merged'), ...args)).stdout;
    const base = (await symbiosis('generate', '--model', modelDir, ...args)).stdout;
    expect(withAdapter).toBe(merged);
    expect(withAdapter).not.toBe(base);
  });

  it('samples reproducibly with a seed', async () => {
    const args = ['generate', '--model', modelDir, '--prompt', 'Once upon a time', '--max-tokens', '30', '--temperature', '0.9', '--top-p', '0.9', '--seed', '42'];
    expect((await symbiosis(...args)).stdout).toBe((await symbiosis(...args)).stdout);
  });

  it('documents every command and rejects unknown options by name', async () => {
    for (const cmd of ['convert-llama2c', 'generate', 'merge', 'start']) {
      expect((await symbiosis(cmd, '--help')).stdout).toMatch(/^Usage: symbiosis /);
    }
    await expect(symbiosis('generate', '--model', modelDir, '--prompt', 'x', '--temprature', '0')).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining("'--temprature'") });
    await expect(symbiosis('generate', '--model', modelDir, '--prompt', 'x', '--top-p', '2')).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('--top-p') });
    await expect(symbiosis('generate', '--model', join(dir, 'nope'), '--prompt', 'x')).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('config.json is missing') });
  });
});
