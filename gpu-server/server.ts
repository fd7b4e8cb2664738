/**
 * The base-model server: loads nothing itself (the model and backend are given), serves
 * split-execution sessions over WebSocket at /v1/session, and HTTP: /healthz, /v1/info,
 * /metrics. One process per accelerator, long-lived.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { MODULE_NAMES, TAP_NAMES } from '../shared/adapters/taps';
import type { Model } from '../shared/model/types';
import { webSocketChannel, type WebSocketLike } from '../shared/protocol/channel';
import { PROTOCOL_VERSION } from '../shared/protocol/messages';
import type { Backend } from './backend/types';
import { Engine } from './engine';
import { Connection } from './handler';
import { frozenWeightFile } from './weights';
import { ServerMetrics } from './metrics';

export interface ServerOptions {
  model: Model;
  /** The served model's name, the `model` id clients use for the base (e.g. "stories260K"). */
  name: string;
  backend: Backend;
  secret: string;
  port: number;
  host?: string;
  maxFrameBytes?: number;
  maxBatchRows?: number;
  /** An idle session is ended after this long. */
  idleTimeoutMs?: number;
  /** Served at /v1/tokenizer, so clients need no copy of the model directory. */
  tokenizer?: { tokenizerJson: unknown; tokenizerConfig?: unknown };
}

export interface RunningServer {
  url: string; // http://host:port
  engine: Engine;
  /** Ends every session with a clean "shutting_down" error frame, then stops listening. */
  close(): Promise<void>;
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  if (opts.secret.length < 16) throw new Error('the session secret must be at least 16 characters');
  // The gauges read the engine when scraped; the engine reports each batch to the histograms.
  const metrics: ServerMetrics = new ServerMetrics(() => engine);
  const engine: Engine = new Engine(opts.model, opts.backend, {
    maxBatchRows: opts.maxBatchRows ?? 512,
    onBatch: (e) => {
      metrics.batchRows.observe({ group: e.group, direction: e.direction }, e.rows);
      metrics.batchRequests.observe({ group: e.group }, e.requests);
    },
  });
  const connections = new Set<Connection>();
  const usedTokens = new Map<string, number>();
  const { config } = opts.model;

  const info = () => ({
    protocol: PROTOCOL_VERSION,
    name: opts.name,
    model: config,
    backend: opts.backend.info,
    taps: TAP_NAMES,
    modules: MODULE_NAMES,
    sessions: engine.sessions.size,
  });

  const http = createServer((req: IncomingMessage, res: ServerResponse) => {
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') return json(405, { error: { message: `${req.method} is not allowed` } });
    if (path === '/healthz') return json(200, { ok: true });
    if (path === '/v1/info') return json(200, info());
    const weight = /^\/v1\/weights\/(\d+)\/([a-z_]+)$/.exec(path);
    if (weight) {
      const bytes = frozenWeightFile(opts.model, Number(weight[1]), weight[2]);
      if (typeof bytes === 'string') return json(404, { error: { message: bytes } });
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(bytes);
      return;
    }
    if (path === '/v1/tokenizer') return opts.tokenizer ? json(200, opts.tokenizer) : json(404, { error: { message: 'this server has no tokenizer' } });
    if (path === '/metrics') {
      void metrics.registry.metrics().then((text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text));
      return;
    }
    json(404, { error: { message: `no route ${path}` } });
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxFrameBytes ?? 64 * 1024 * 1024 });
  http.on('upgrade', (req, socket, head) => {
    if ((req.url ?? '').split('?')[0] !== '/v1/session') {
      socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      const conn = new Connection(webSocketChannel(ws as unknown as WebSocketLike), { engine, secret: opts.secret, maxFrameBytes: opts.maxFrameBytes ?? 64 * 1024 * 1024, usedTokens, onError: (code) => metrics.errors.inc({ code }), onTokens: (mode, n) => metrics.tokens.inc({ mode }, n) });
      connections.add(conn);
      ws.on('close', () => connections.delete(conn));
    });
  });

  // Idle sessions expire; used token ids are forgotten once the tokens themselves have expired.
  const idleMs = opts.idleTimeoutMs ?? 5 * 60_000;
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const c of connections) if (c.session && !c.session.busy && now - c.session.lastActive > idleMs) c.fail('expired', `session idle for more than ${idleMs} ms`);
    for (const [jti, exp] of usedTokens) if (exp * 1000 < now) usedTokens.delete(jti);
  }, Math.min(idleMs, 10_000));
  sweep.unref();

  await new Promise<void>((resolve) => http.listen(opts.port, opts.host ?? '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${port}`,
    engine,
    async close() {
      clearInterval(sweep);
      for (const c of connections) c.fail('shutting_down', 'the base-model server is stopping');
      wss.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeAllConnections();
    },
  };
}
