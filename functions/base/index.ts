/**
 * The edge's view of the base-model servers: the served model (config, tokenizer, name), the
 * frozen weights DoRA needs, and split sessions opened with a token this edge signs. Any server
 * that cannot be reached is skipped; when none can, the request gets a 503 with Retry-After.
 */
import type { ModuleName, TapAdapter } from '../../shared/adapters/taps';
import { webSocketChannel, type WebSocketLike } from '../../shared/protocol/channel';
import type { Sampling } from '../../shared/protocol/messages';
import { newTokenId, signSessionToken } from '../../shared/protocol/token';
import { SplitSession } from '../../shared/split';
import { fetchServedModel, weightsFromServer, type ServedModel } from '../../shared/split/served-model';
import { unavailable } from '../errors';

/** What one tenant may hold on the server at once (the server enforces it from the token). */
const SESSION_LIMITS = { maxSessions: 32, maxMemoryBytes: 2 ** 30 };
const TOKEN_SECONDS = 3600;
const CONNECT_TIMEOUT_MS = 5000;

const httpUrl = (ws: string, path: string) => `${ws.replace(/^ws/, 'http').replace(/\/+$/, '')}${path}`;

function openSocket(url: string): Promise<WebSocketLike> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const timer = setTimeout(() => {
      ws.close();
      reject(new Error('timed out'));
    }, CONNECT_TIMEOUT_MS);
    ws.addEventListener('open', () => {
      clearTimeout(timer);
      resolve(ws as unknown as WebSocketLike);
    });
    ws.addEventListener('error', () => {
      clearTimeout(timer);
      reject(new Error('connection failed'));
    });
  });
}

export class BaseModelClient {
  private infoPromise?: Promise<ServedModel>;
  private next = 0;

  constructor(
    private readonly urls: string[],
    private readonly secret: string,
  ) {}

  /** Tries each server once, starting from a rotating one, so load spreads and a dead one is skipped. */
  private async firstReachable<T>(what: string, run: (url: string) => Promise<T>): Promise<T> {
    const start = this.next++ % this.urls.length;
    const failures: string[] = [];
    for (let i = 0; i < this.urls.length; i++) {
      const url = this.urls[(start + i) % this.urls.length];
      try {
        return await run(url);
      } catch (e) {
        failures.push(`${url}: ${(e as Error).message}`);
      }
    }
    throw unavailable(`the base-model server is unavailable (${what}; ${failures.join('; ')})`);
  }

  info(): Promise<ServedModel> {
    this.infoPromise ??= this.firstReachable('model info', (url) => fetchServedModel(httpUrl(url, ''))).catch((e) => {
      this.infoPromise = undefined; // retry on the next request rather than caching an outage
      throw e;
    });
    return this.infoPromise;
  }

  /** A frozen module's weight [out, in] and bias, for DoRA's norms. */
  weight(layer: number, module: ModuleName): Promise<{ weight: Float32Array; bias?: Float32Array }> {
    return this.firstReachable(`weights of ${module}, layer ${layer}`, (url) => weightsFromServer(httpUrl(url, ''))(layer, module));
  }

  /** A single-use session token for one of the tenant's sessions, and a server to use it on. */
  async grant(tenant: string): Promise<{ url: string; token: string; expiresAt: number }> {
    const { config } = await this.info();
    const expiresAt = Math.floor(Date.now() / 1000) + TOKEN_SECONDS;
    const token = await signSessionToken({ tenant, exp: expiresAt, jti: newTokenId(), limits: { ...SESSION_LIMITS, maxContext: config.maxSeqLen } }, this.secret);
    return { url: this.urls[this.next++ % this.urls.length], token, expiresAt };
  }

  async openSession(tenant: string, o: { mode: 'inference' | 'training'; maxContext: number; adapter?: TapAdapter; sampling?: Partial<Sampling> }): Promise<SplitSession> {
    const { config } = await this.info();
    const { token } = await this.grant(tenant);
    const socket = await this.firstReachable('open a session', (url) => openSocket(`${url.replace(/\/+$/, '')}/v1/session`));
    return SplitSession.open(webSocketChannel(socket), { token, mode: o.mode, maxContext: o.maxContext, config, adapter: o.adapter, sampling: o.sampling });
  }
}
