/**
 * Helpers for the edge tests that look at what the edge stored: s3rver keeps each object of the
 * bucket as files under <fixture dir>/s3/symbiosis/<key>._S3rver_object (beside it
 * ._S3rver_object.md5 and ._S3rver_metadata.json), so tests can read, scan and tamper with the
 * stored bytes directly. Also: reading the API's JSON errors.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { expect } from 'vitest';

const BUCKET = 'symbiosis';
const OBJECT_SUFFIX = '._S3rver_object';

/** Every file under the fixture's s3/ folder (objects and s3rver's own side files), with its bytes. */
export async function bucketFiles(dir: string): Promise<{ path: string; bytes: Buffer }[]> {
  const root = join(dir, 's3');
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  const files = entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
  return Promise.all(files.map(async (path) => ({ path, bytes: await readFile(path) })));
}

/** The keys of the bucket's objects, from the files s3rver keeps for them. */
export async function storedKeys(dir: string, prefix = ''): Promise<string[]> {
  const bucket = join(dir, 's3', BUCKET);
  return (await bucketFiles(dir))
    .map((f) => f.path)
    .filter((p) => p.endsWith(OBJECT_SUFFIX) && p.startsWith(bucket + sep))
    .map((p) => relative(bucket, p).split(sep).join('/').slice(0, -OBJECT_SUFFIX.length))
    .filter((k) => k.startsWith(prefix))
    .sort();
}

/** The file holding an object's bytes. */
export function objectPath(dir: string, key: string): string {
  return join(dir, 's3', BUCKET, ...key.split('/')) + OBJECT_SUFFIX;
}

/** The stored files whose bytes contain `needle`. */
export async function filesContaining(dir: string, needle: Uint8Array | string): Promise<string[]> {
  const n = typeof needle === 'string' ? Buffer.from(needle, 'utf8') : Buffer.from(needle);
  return (await bucketFiles(dir)).filter((f) => f.bytes.includes(n)).map((f) => f.path);
}

export interface ApiErrorBody {
  error: { message: string; type: string; code: string; param: string | null };
}

/** Asserts the response is a JSON error with this status and returns its error object. */
export async function expectError(res: Response, status: number | 'client' | 'server'): Promise<ApiErrorBody['error']> {
  const text = await res.text();
  if (status === 'client') expect(Math.floor(res.status / 100), text).toBe(4);
  else if (status === 'server') expect(Math.floor(res.status / 100), text).toBe(5);
  else expect(res.status, text).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const body = JSON.parse(text) as ApiErrorBody;
  expect(body.error).toMatchObject({ message: expect.any(String), type: expect.any(String), code: expect.any(String) });
  return body.error;
}

/** Parses a JSON answer after asserting its status (the body is shown when the status is wrong). */
export async function expectJson<T>(res: Response, status: number): Promise<T> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  return JSON.parse(text) as T;
}
