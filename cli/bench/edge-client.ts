/**
 * The two clients `bench edge` (edge.ts) times: a tenant calling the edge over HTTP (streamed
 * completions, read as server-sent events) and the same generation run straight against the
 * base-model server from this process (SplitSession, the LoRA applied here at the taps).
 */
import type { IssuedKey } from '../../shared/api/admin';
import type { PeftAdapter } from '../../shared/adapters';
import type { ModelConfig } from '../../shared/model/types';
import { devSessionToken } from '../../shared/protocol/token';
import { SplitSession } from '../../shared/split';
import { generateTokens } from '../../shared/split/generate';
import { connect } from '../../gpu-server/client';

export const PROMPT = 'Once upon a time';

/** bench edge's progress line, on stderr (stdout is its table and JSON). */
export const log = (line: string) => process.stderr.write(`bench edge: ${line}\n`);

/** Incremental server-sent-events parsing: feed text as it arrives, get each event's data. */
export class SseParser {
  private buffer = '';

  push(text: string): string[] {
    this.buffer += text.replace(/\r\n?/g, '\n');
    const events: string[] = [];
    let end: number;
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const data = block
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(line[5] === ' ' ? 6 : 5));
      if (data.length > 0) events.push(data.join('\n'));
    }
    return events;
  }
}

export interface TokenTimes {
  /** ms from the request's start to the first token. */
  ttftMs: number;
  /** (last − first) / (tokens − 1), ms; NaN below 2 tokens. */
  perTokenMs: number;
}

/** TTFT and per-token latency from the arrival times (ms, performance.now) of each token. */
export function tokenTimes(start: number, arrivals: readonly number[]): TokenTimes {
  if (arrivals.length === 0) return { ttftMs: NaN, perTokenMs: NaN };
  const last = arrivals[arrivals.length - 1];
  return { ttftMs: arrivals[0] - start, perTokenMs: arrivals.length < 2 ? NaN : (last - arrivals[0]) / (arrivals.length - 1) };
}

export interface Run extends TokenTimes {
  tokens: number;
  text: string;
}

function peftForm(files: { configJson: string; safetensors: Uint8Array }): FormData {
  const form = new FormData();
  form.append('adapter_config.json', new Blob([files.configJson], { type: 'application/json' }), 'adapter_config.json');
  form.append('adapter_model.safetensors', new Blob([files.safetensors as BlobPart]), 'adapter_model.safetensors');
  return form;
}

export class EdgeClient {
  constructor(
    public url: string,
    private readonly adminToken: string,
    public apiKey = '',
  ) {}

  private async call(token: string, path: string, body: unknown, method = 'POST'): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (!(body instanceof FormData)) headers['content-type'] = 'application/json';
    const res = await fetch(`${this.url}${path}`, { method, headers, body: body instanceof FormData ? body : JSON.stringify(body) });
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${await res.text()}`);
    return res;
  }

  async createTenant(name: string): Promise<void> {
    this.apiKey = ((await (await this.call(this.adminToken, '/admin/tenants', { name })).json()) as IssuedKey).apiKey;
  }

  async upload(name: string, files: { configJson: string; safetensors: Uint8Array }): Promise<void> {
    await (await this.call(this.apiKey, `/v1/adapters/${name}`, peftForm(files), 'PUT')).arrayBuffer();
  }

  /** A streamed completion; token arrival = each SSE chunk that carries text. */
  async stream(model: string, maxTokens: number): Promise<Run> {
    const start = performance.now();
    const res = await fetch(`${this.url}/v1/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.apiKey}`, 'content-type': 'application/json', 'accept-encoding': 'identity' },
      body: JSON.stringify({ model, prompt: PROMPT, max_tokens: maxTokens, temperature: 0, stream: true, stream_options: { include_usage: true } }),
    });
    if (!res.ok || !res.body) throw new Error(`POST /v1/completions: HTTP ${res.status} ${await res.text()}`);
    const parser = new SseParser();
    const decoder = new TextDecoder();
    const arrivals: number[] = [];
    let text = '';
    let tokens = NaN;
    for await (const bytes of res.body) {
      const now = performance.now();
      for (const data of parser.push(decoder.decode(bytes, { stream: true }))) {
        if (data === '[DONE]') continue;
        const chunk = JSON.parse(data) as { error?: { message: string }; choices: { text: string }[]; usage?: { completion_tokens: number } };
        if (chunk.error) throw new Error(`stream error: ${chunk.error.message}`);
        if (chunk.usage) tokens = chunk.usage.completion_tokens;
        const piece = chunk.choices[0]?.text;
        if (piece) {
          arrivals.push(now);
          text += piece;
        }
      }
    }
    if (arrivals.length !== tokens) log(`warning: ${arrivals.length} text chunks for ${tokens} tokens; per-token latency is per chunk`);
    return { ...tokenTimes(start, arrivals), tokens, text };
  }
}

/** The same generation straight against the server, as the edge does it but from here. */
export async function direct(serverUrl: string, secret: string, config: ModelConfig, adapter: PeftAdapter, promptIds: number[], maxTokens: number): Promise<Run & { ids: number[] }> {
  const start = performance.now();
  const token = await devSessionToken(secret, 'bench-direct', { maxSessions: 32, maxContext: config.maxSeqLen, maxMemoryBytes: 2 ** 30 });
  const session = await SplitSession.open(await connect(serverUrl), { token, mode: 'inference', maxContext: promptIds.length + maxTokens, config, adapter, sampling: { temperature: 0, topP: 1 } });
  const arrivals: number[] = [];
  try {
    const { ids } = await generateTokens(session, promptIds, { maxTokens, stopIds: config.eosTokenIds, onToken: () => void arrivals.push(performance.now()) });
    return { ...tokenTimes(start, arrivals), tokens: ids.length, text: '', ids };
  } finally {
    session.close();
  }
}

