/**
 * Errors as the API answers them, in OpenAI's shape: `{"error": {"message", "type", "code", "param"}}`.
 * Anything thrown that is not an ApiError is a bug or an outage: 500 without internals.
 */
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { z } from 'zod';
import { describeIssues } from '../../shared/protocol/messages';
import { SealError } from '../crypto';
import { ConfigError } from '../env';

const TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  409: 'conflict_error',
  413: 'invalid_request_error',
  429: 'rate_limit_error',
  503: 'service_unavailable',
};

export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    message: string,
    readonly code: string,
    readonly extra: { param?: string; retryAfterSeconds?: number } = {},
  ) {
    super(message);
  }
}

export const badRequest = (message: string, code = 'invalid_request', param?: string) => new ApiError(400, message, code, { param });
export const notFound = (message: string) => new ApiError(404, message, 'not_found');
export const unavailable = (message: string, retryAfterSeconds = 5) => new ApiError(503, message, 'service_unavailable', { retryAfterSeconds });

/** A zod failure on a request body, naming the offending fields. */
export function invalidBody(error: z.ZodError): ApiError {
  const first = error.issues[0];
  const path = [...(first?.path ?? []), ...(first?.code === 'unrecognized_keys' ? first.keys.slice(0, 1) : [])].join('.');
  return badRequest(describeIssues(error), first?.code === 'unrecognized_keys' ? 'unsupported_field' : 'invalid_field', path || undefined);
}

/** A request's JSON body, or a 400 saying it is not JSON. */
export async function readJson(req: Request): Promise<unknown> {
  try {
    return await req.json();
  } catch {
    throw badRequest('the request body must be JSON', 'invalid_json');
  }
}

export function errorResponse(c: Context, e: ApiError): Response {
  if (e.extra.retryAfterSeconds !== undefined) c.header('Retry-After', String(Math.ceil(e.extra.retryAfterSeconds)));
  return c.json({ error: { message: e.message, type: TYPES[e.status] ?? 'api_error', code: e.code, param: e.extra.param ?? null } }, e.status);
}

export function onError(e: Error, c: Context): Response {
  if (e instanceof ApiError) return errorResponse(c, e);
  if (e instanceof ConfigError) return errorResponse(c, new ApiError(500, e.message, 'misconfigured'));
  if (e instanceof SealError) {
    // A stored object that fails authentication was tampered with or moved in the bucket: never
    // used, logged with its key for the operator, and answered without internals.
    console.error('edge: integrity failure', e.message);
    return errorResponse(c, new ApiError(500, 'a stored object failed its integrity check and was not used', 'integrity_error'));
  }
  console.error('edge: unexpected error', e);
  return errorResponse(c, new ApiError(500, 'internal error', 'internal_error'));
}
