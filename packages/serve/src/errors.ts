/**
 * Errors in OpenAI's JSON shape: `{ "error": { "message", "type", "param", "code" } }` with the
 * HTTP status they travel with. Every failure the server answers is one of these values.
 */
export interface ApiError {
  readonly status: number;
  readonly message: string;
  readonly type: 'invalid_request_error' | 'authentication_error' | 'permission_error' | 'not_found_error' | 'rate_limit_error' | 'server_error' | 'timeout_error';
  readonly param?: string | null;
  readonly code?: string | null;
  /** Seconds for a `Retry-After` header (429). */
  readonly retryAfter?: number;
}

export const badRequest = (message: string, param: string | null = null, code: string | null = null): ApiError => ({ status: 400, type: 'invalid_request_error', message, param, code });
export const notFound = (message: string, code = 'model_not_found'): ApiError => ({ status: 404, type: 'not_found_error', message, param: 'model', code });

/** The response body of an error. */
export const errorBody = (e: ApiError) => ({ error: { message: e.message, type: e.type, param: e.param ?? null, code: e.code ?? null } });
