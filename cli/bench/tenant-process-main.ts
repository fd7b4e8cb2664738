/** The entry of TenantProcess (tenant-process.ts): decodes on request, adapters rebuilt from their seeds. */
import type { PeftAdapter } from '../../shared/adapters';
import { benchLora } from './bench-lora';
import { decode } from './decode';
import type { DecodeRequest } from './tenant-process';

const adapters = new Map<number, PeftAdapter>();

process.on('message', async (m: { type: 'decode' } & DecodeRequest) => {
  try {
    const sessions = m.loraSeeds.map((seed) => {
      if (seed === null) return undefined;
      if (!adapters.has(seed)) adapters.set(seed, benchLora(m.config, seed));
      return adapters.get(seed);
    });
    const run = await decode(m.url, m.secret, m.config, sessions, m.limits);
    process.send!({ type: 'result', run });
  } catch (e) {
    process.send!({ type: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  }
});
