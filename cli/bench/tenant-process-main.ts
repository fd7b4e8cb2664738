/** The entry of TenantProcess (tenant-process.ts): decodes on request, adapters rebuilt from their seeds. */
import { benchLora } from './bench-lora';
import { decode } from './decode';
import type { DecodeRequest } from './tenant-process';

process.on('message', async (m: { type: 'decode' } & DecodeRequest) => {
  try {
    const sessions = m.loraSeeds.map((seed) => (seed === null ? undefined : benchLora(m.config, seed)));
    const run = await decode(m.url, m.secret, m.config, sessions, m.limits, m.sampling);
    process.send!({ type: 'result', run });
  } catch (e) {
    process.send!({ type: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  }
});
