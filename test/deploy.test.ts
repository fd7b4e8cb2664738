/**
 * `wrangler deploy` bundles the edge offline: the dry run builds the exact upload, which must
 * stay within the Workers size limit and must not carry the S3 client's DOMParser XML parser
 * (Workers have no DOMParser; wrangler.toml aliases the SDK's plain-JS one).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { buildEdge } from '../cli/stack/edge';

describe('wrangler deploy --dry-run', () => {
  let dir: string;
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('bundles functions/ offline into one worker within the size limit', async () => {
    dir = await mkdtemp(join(tmpdir(), 'symbiosis-deploy-'));
    const bundle = await readFile(await buildEdge(dir));
    expect(gzipSync(bundle).length).toBeLessThan(3 * 1024 * 1024); // the Workers free plan's limit
    const text = bundle.toString('utf8');
    expect(text).not.toMatch(/new DOMParser\(/);
    expect(text).toContain('export {');
  }, 60_000);
});
