import { getPriority } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ENGINE_NODE_FLAGS } from '../../stack/node-flags';
import { commandLine } from '../../stack/testing';
import { jobSpecs } from './plan';
import { CLIENT_NICE, clientNiceness, JobProcess } from './processes';

describe('bench finetune job processes', () => {
  it("run with the server's V8 flags; the shared setup's clients nicer than us, the dedicated jobs as nice as we are", async () => {
    const base = { job: jobSpecs(1)[0], seqLen: 8, warmupSteps: 0, steps: 1, backend: 'cpu' as const };
    const client = new JobProcess({ ...base, kind: 'client', serverUrl: 'http://127.0.0.1:9' }, 'secret');
    const dedicated = new JobProcess({ ...base, kind: 'dedicated', modelDir: '/nonexistent' }, 'secret');
    try {
      for (const p of [client, dedicated]) expect(await commandLine(p.child.pid!)).toEqual(expect.arrayContaining([...ENGINE_NODE_FLAGS]));
      expect(clientNiceness()).toBe(Math.min(19, getPriority() + CLIENT_NICE));
      expect(getPriority(client.child.pid!)).toBe(clientNiceness());
      expect(getPriority(dedicated.child.pid!)).toBe(getPriority());
    } finally {
      client.child.kill('SIGKILL');
      dedicated.child.kill('SIGKILL');
    }
  });
});
