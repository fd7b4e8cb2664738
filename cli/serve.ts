import { z } from 'zod';
import { basename, resolve } from 'node:path';
import { chooseAutoBackend, createBackend, type BackendKind } from '../gpu-server/backend';
import { startServer } from '../gpu-server/server';
import { numberOption, parseCommand, requiredString, threadsOption, UsageError, type Command } from './args';
import { loadModelDirectory } from '../shared/model/directory';
import { folderSource } from '../shared/node/files';

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the base-model server: one frozen model, split-execution sessions for every tenant',
  usage: `Usage: symbiosis serve --model <hf-dir> [options]

Loads the model once and serves split-execution sessions over WebSocket at /v1/session,
plus GET /healthz, /v1/info, /v1/tokenizer and /metrics (Prometheus), until SIGTERM or Ctrl-C;
open sessions then get a clean "shutting_down" error frame.

Options:
  --model <dir>        Hugging Face model directory
  --backend <kind>     auto | cpu | reference | webgpu (default auto: webgpu on a hardware
                       GPU adapter, else cpu; webgpu forces WebGPU, even on a software adapter)
  --port <p>           TCP port (default 8765; 0 = any free port)
  --host <h>           interface to listen on (default 127.0.0.1)
  --secret <s>         session-token secret shared with the edge (default: $SESSION_SECRET)
  --idle-timeout <s>   end sessions idle this many seconds (default 300)
  --threads <n>        cpu backend: onnxruntime intra-op threads (default: the machine's cores;
                       fewer when other busy processes share this machine's cores)`,
  async run(argv) {
    const parsed = parseCommand(this, argv, {
      model: { type: 'string' },
      backend: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      secret: { type: 'string' },
      'idle-timeout': { type: 'string' },
      threads: { type: 'string' },
    });
    if (!parsed) return 0;
    const v = parsed.values;
    const modelDir = requiredString('model', v.model);
    const secret = (v.secret as string | undefined) ?? process.env.SESSION_SECRET;
    if (!secret) throw new UsageError('a session secret is required: --secret or SESSION_SECRET');
    const kind = (v.backend as string | undefined) ?? 'auto';
    if (!['auto', 'cpu', 'reference', 'webgpu'].includes(kind)) throw new UsageError(`--backend: "${kind}" is not one of auto, cpu, reference, webgpu`);
    const port = numberOption('port', v.port, z.number().int().min(0).max(65535)) ?? 8765;
    const idle = numberOption('idle-timeout', v['idle-timeout'], z.number().positive()) ?? 300;

    const resolved = await resolveBackendKind(kind);
    const threads = threadsOption(v.threads, resolved);
    const loaded = await loadModelDirectory(folderSource(modelDir));
    const backend = await createBackend(loaded.model, resolved, { threads });
    const server = await startServer({
      model: loaded.model,
      name: basename(resolve(modelDir)),
      backend,
      secret,
      port,
      host: v.host as string | undefined,
      idleTimeoutMs: idle * 1000,
      tokenizer: loaded.tokenizerJson ? { tokenizerJson: loaded.tokenizerJson, tokenizerConfig: loaded.tokenizerConfig } : undefined,
    });
    process.stderr.write(`symbiosis serve: ${backend.info.name} backend, ${backend.info.device}; listening on ${server.url}\n`);
    await new Promise<void>((resolve) => {
      const stop = async (signal: string) => {
        process.stderr.write(`symbiosis serve: ${signal}, closing ${server.engine.sessions.size} session(s)\n`);
        await server.close();
        await backend.dispose();
        resolve();
      };
      process.once('SIGTERM', () => void stop('SIGTERM'));
      process.once('SIGINT', () => void stop('SIGINT'));
    });
    return 0;
  },
};

/** An explicit kind as given; 'auto' as chooseAutoBackend decides, logged with its reason. */
async function resolveBackendKind(kind: string): Promise<BackendKind> {
  if (kind !== 'auto') return kind as BackendKind;
  const choice = await chooseAutoBackend();
  process.stderr.write(`symbiosis serve: --backend auto chose ${choice.kind} (${choice.reason})\n`);
  return choice.kind;
}
