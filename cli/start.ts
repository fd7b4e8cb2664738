/**
 * `symbiosis start` (`npm start`): the whole product on this machine — s3rver with its data in
 * .dev/s3, the base-model server with stories260K (converted into .dev/models on first run), and
 * the edge worker in workerd — plus a demo tenant whose key goes to .dev/local.json. Ctrl-C
 * stops everything.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { ensureDefaultModel } from '../shared/node/default-model';
import { numberOption, parseCommand, type Command } from './args';
import { startLocalStack, type LocalStack } from './stack';

const LocalJsonSchema = z.object({ url: z.string(), apiKey: z.string(), adminToken: z.string() });
const port = z.number().int().min(0).max(65535);

/** The demo tenant's key from an earlier run if it still works, else a new demo tenant. */
async function demoKey(stack: LocalStack, file: string): Promise<string> {
  if (existsSync(file)) {
    const previous = LocalJsonSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
    if (previous.success) {
      const res = await fetch(`${stack.edgeUrl}/v1/models`, { headers: { authorization: `Bearer ${previous.data.apiKey}` } });
      if (res.ok) return previous.data.apiKey;
    }
  }
  const res = await fetch(`${stack.edgeUrl}/admin/tenants`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.env.ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'demo' }),
  });
  if (res.status !== 201) throw new Error(`creating the demo tenant failed: HTTP ${res.status} ${await res.text()}`);
  return ((await res.json()) as { apiKey: string }).apiKey;
}

export const startCommand: Command = {
  name: 'start',
  summary: 'run the whole stack locally: S3 (s3rver), the base-model server with stories260K, the edge',
  usage: `Usage: symbiosis start [--dir .dev] [--port 8787] [--server-port 8765] [--s3-port 4569]

Runs s3rver (data in <dir>/s3), \`symbiosis serve\` with stories260K (converted into
<dir>/models/stories260K on first run, from ../shared when the checkout has it, else
downloaded once from its public home), and the edge worker in workerd (Miniflare) on
http://127.0.0.1:<port>. Creates a demo tenant and writes <dir>/local.json with
{"url", "apiKey", "adminToken"}. Port 0 picks a free port. Ctrl-C stops everything.`,
  async run(argv) {
    const parsed = parseCommand(this, argv, { dir: { type: 'string' }, port: { type: 'string' }, 'server-port': { type: 'string' }, 's3-port': { type: 'string' } });
    if (!parsed) return 0;
    const v = parsed.values;
    const dir = resolve(v.dir ?? '.dev');
    const ports = { edge: numberOption('port', v.port, port) ?? 8787, server: numberOption('server-port', v['server-port'], port) ?? 8765, s3: numberOption('s3-port', v['s3-port'], port) ?? 4569 };
    const modelDir = await ensureDefaultModel(join(dir, 'models', 'stories260K'));
    const stack = await startLocalStack({ dir, modelDir, ports });
    const stopped = new Promise<void>((done) => {
      const stop = () => {
        process.stderr.write('symbiosis start: stopping\n');
        void stack.stop().then(done);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    try {
      const local = { url: stack.edgeUrl, apiKey: await demoKey(stack, join(dir, 'local.json')), adminToken: stack.env.ADMIN_TOKEN };
      await writeFile(join(dir, 'local.json'), JSON.stringify(local, null, 2) + '\n', { mode: 0o600 });
      process.stdout.write(`Symbiosis is running (Ctrl-C stops it):
  edge (OpenAI-compatible API)  ${stack.edgeUrl}/v1
  base-model server             ${stack.serverUrl}
  S3 (s3rver)                   ${stack.s3Url}  data in ${join(dir, 's3')}
  demo tenant's key, admin token ${join(dir, 'local.json')}

Try:
  curl ${stack.edgeUrl}/v1/completions \\
    -H "Authorization: Bearer $(node -p "require('${join(dir, 'local.json')}').apiKey")" \\
    -H 'Content-Type: application/json' \\
    -d '{"model": "stories260K", "prompt": "Once upon a time", "max_tokens": 64, "temperature": 0}'
ready
`);
    } catch (e) {
      await stack.stop();
      throw e;
    }
    await stopped;
    return 0;
  },
};
