// The body of every error answer but validation's 422 and the malformed-body 400.
import type { KasaError } from '../errors.ts';

export interface ErrorBody {
  successful: false;
  request_id: string;
  error: { code: string; message: string; details?: unknown };
}

export function errorBody(requestId: string, error: KasaError): ErrorBody {
  const body: ErrorBody = { successful: false, request_id: requestId, error: { code: error.code, message: error.message } };
  if (error.details) body.error.details = error.details;
  return body;
}
