/**
 * POST /v1/sessions: the edge mints a session token for the tenant's own client (the trainer
 * on the tenant's machine), which then talks to the base-model server directly — the adapter
 * never leaves that machine.
 */
import { z } from 'zod';

export const SessionRequestSchema = z.strictObject({
  mode: z.enum(['inference', 'training']),
});

export interface SessionGrant {
  /** The base-model server's WebSocket base URL (ws:// or wss://). */
  url: string;
  token: string;
  /** Seconds since the epoch. */
  expires_at: number;
  /** The served base model's name. */
  model: string;
}
