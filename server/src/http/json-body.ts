import type { IncomingMessage } from 'node:http';
import { ApiError } from '../errors.js';

/** JSON request bodies (options, metadata) are small; larger ones are rejected with 413. */
export const MAX_JSON_BODY_BYTES = 1024 * 1024;

/**
 * Read and parse a JSON request body. Returns undefined for an empty body. GET requests
 * carry bodies too in this API (listing and attribute options), so the method is not checked.
 */
export async function readJsonBody(request: IncomingMessage, maxBytes = MAX_JSON_BODY_BYTES): Promise<unknown> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > maxBytes) throw tooLarge(maxBytes);

  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > maxBytes) throw tooLarge(maxBytes);
    chunks.push(chunk);
  }

  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw ApiError.badData('body', `request body is not valid JSON: ${(error as Error).message}`);
  }
}

function tooLarge(maxBytes: number): ApiError {
  return new ApiError(413, 'payloadTooLarge', `JSON request body is larger than ${maxBytes} bytes`);
}
