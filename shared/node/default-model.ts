/**
 * Node-only: where the default model (stories260K) comes from. A checkout beside the project's
 * `shared/` folder (development, CI) uses `../shared/models/stories260K`; anywhere else the two
 * llama2.c files are downloaded once from their public home into a cache, checked by sha256,
 * then converted to a Hugging Face directory.
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { convertLlama2c } from '../convert';
import { writeFolder } from './files';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PUBLIC_HOME = 'https://huggingface.co/karpathy/tinyllamas/resolve/main/stories260K';

export const STORIES260K_FILES = {
  'stories260K.bin': 'b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696',
  'tok512.bin': '037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312',
} as const;
type Stories260kFile = keyof typeof STORIES260K_FILES;

/** The folder beside the checkout, when there is one. */
export function localStories260kDir(): string | undefined {
  const dir = resolve(REPO_ROOT, '../shared/models/stories260K');
  return existsSync(join(dir, 'stories260K.bin')) ? dir : undefined;
}

function cacheDir(): string {
  return process.env.SYMBIOSIS_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'symbiosis');
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function fetchVerified(name: Stories260kFile, into: string): Promise<Uint8Array> {
  const path = join(into, name);
  if (existsSync(path)) {
    const cached = new Uint8Array(await readFile(path));
    if (sha256(cached) === STORIES260K_FILES[name]) return cached;
  }
  const url = `${PUBLIC_HOME}/${name}`;
  console.error(`downloading ${url}`);
  const res = await fetch(url);
  if (!res.ok) throw new Error(`download of ${url} failed: HTTP ${res.status}`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  const got = sha256(bytes);
  if (got !== STORIES260K_FILES[name]) throw new Error(`${url}: sha256 ${got} does not match the expected ${STORIES260K_FILES[name]}`);
  await mkdir(into, { recursive: true });
  await writeFile(`${path}.part`, bytes);
  await rename(`${path}.part`, path);
  return bytes;
}

/** The raw llama2.c files: from ../shared when present, else from the cache (downloading once). */
export async function stories260kSources(): Promise<Record<Stories260kFile, Uint8Array>> {
  const local = localStories260kDir();
  if (local) {
    const read = async (n: Stories260kFile) => new Uint8Array(await readFile(join(local, n)));
    return { 'stories260K.bin': await read('stories260K.bin'), 'tok512.bin': await read('tok512.bin') };
  }
  const into = join(cacheDir(), 'llama2c');
  return { 'stories260K.bin': await fetchVerified('stories260K.bin', into), 'tok512.bin': await fetchVerified('tok512.bin', into) };
}

/** A converted HF directory of the default model at `dir` (converted on first use). */
export async function ensureDefaultModel(dir: string): Promise<string> {
  const complete = () => existsSync(join(dir, 'config.json')) && existsSync(join(dir, 'model.safetensors'));
  if (complete()) return dir;
  const src = await stories260kSources();
  // Convert into a sibling folder and rename, so an interrupted run never leaves half a model.
  // Concurrent converters (test workers) each write their own folder; the first rename wins and
  // the others discard theirs: a folder that is there is never removed under a reader.
  const partial = `${dir}.partial-${process.pid}-${randomUUID()}`;
  await writeFolder(partial, convertLlama2c(src['stories260K.bin'], src['tok512.bin']));
  if (!complete()) await rename(partial, dir).catch(() => undefined);
  await rm(partial, { recursive: true, force: true });
  if (!complete()) throw new Error(`could not install the default model into ${dir} (remove that folder if it holds something else)`);
  return dir;
}
