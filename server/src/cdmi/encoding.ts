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
