import { StringDecoder } from 'node:string_decoder';
import { Readable } from 'node:stream';
import { ApiError } from '../errors.js';

/** Encoding of a data object's `value` in CDMI JSON. */
export type ValueEncoding = 'utf-8' | 'base64';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decode a CDMI `value` into bytes; throws 400 `badData` (key `base64`) on invalid base64. */
export function decodeValue(value: string, encoding: ValueEncoding): Buffer {
  if (encoding === 'utf-8') return Buffer.from(value, 'utf8');

  if (value.length % 4 !== 0 || !BASE64.test(value)) {
    throw ApiError.badData('base64', 'value is not valid base64 although valuetransferencoding is "base64"');
  }
  return Buffer.from(value, 'base64');
}

/**
 * Decode a stream of base64 text into bytes, checking it as strictly as `decodeValue`:
 * only the standard alphabet, padding only at the very end, a length divisible by 4.
 * Throws 400 `badData` (key `base64`) where the text stops being valid, so a consumer
 * may already have received the bytes before that point.
 */
export async function* decodeBase64Stream(text: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let carry = '';
  let padded = false;
  for await (const chunk of text) {
    if (chunk.length === 0) continue;
    if (padded) throw invalidBase64();

    const joined = carry + chunk.toString('latin1');
    if (!BASE64.test(joined)) throw invalidBase64();
    const aligned = joined.length - (joined.length % 4);
    if (aligned > 0) yield Buffer.from(joined.slice(0, aligned), 'base64');
    padded = joined.slice(0, aligned).includes('=');
    carry = joined.slice(aligned);
  }
  if (carry !== '') throw invalidBase64();
}

function invalidBase64(): ApiError {
  return ApiError.badData('base64', 'value is not valid base64 although valuetransferencoding is "base64"');
}

/** Encode a byte stream as the inside of a JSON string (no quotes), chunk by chunk. */
export async function* encodeValueStream(bytes: AsyncIterable<Buffer>, encoding: ValueEncoding): AsyncGenerator<string> {
  if (encoding === 'utf-8') {
    // NOTE: bytes that are not valid UTF-8 become U+FFFD, so such a value does not round-trip; base64 always does.
    const decoder = new StringDecoder('utf8');
    for await (const chunk of bytes) yield escapeJsonText(decoder.write(chunk));
    yield escapeJsonText(decoder.end());
    return;
  }

  let carry: Buffer = Buffer.alloc(0);
  for await (const chunk of bytes) {
    const joined: Buffer = carry.length === 0 ? chunk : Buffer.concat([carry, chunk]);
    const aligned = joined.length - (joined.length % 3);
    yield joined.subarray(0, aligned).toString('base64');
    carry = joined.subarray(aligned);
  }
  yield carry.toString('base64');
}

/** Escape text for use inside a JSON string, so the body is valid JSON whatever the file holds. */
function escapeJsonText(text: string): string {
  return text === '' ? '' : JSON.stringify(text).slice(1, -1);
}

/**
 * Stream a CDMI JSON object whose last field, `value`, is the encoded content. The
 * other fields are serialised first, so the object is never built in memory.
 */
export function streamCdmiObject(
  fields: Record<string, unknown>,
  content: AsyncIterable<Buffer>,
  encoding: ValueEncoding,
): Readable {
  const head = JSON.stringify(fields).slice(0, -1);
  const separator = Object.keys(fields).length === 0 ? '' : ',';

  async function* body(): AsyncGenerator<string> {
    yield `${head}${separator}"value":"`;
    yield* encodeValueStream(content, encoding);
    yield '"}';
  }
  return Readable.from(body(), { objectMode: false });
}
