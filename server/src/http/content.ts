import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { OpError, type Identity, type LogicalFileSystem } from '@op-worker/core';
import rangeParser from 'range-parser';
import { ApiError } from '../errors.js';
import type { AppContext } from '../state.js';

/**
 * File downloads with HTTP ranges, and the request facts that uploads need. Bodies are
 * streamed in both directions, except that a download of at most `BUFFERED_BODY_BYTES`
 * is collected into one buffer.
 */

const OCTET_STREAM = 'application/octet-stream';

/**
 * Largest download body collected into one buffer before the response starts, in bytes.
 * Koa pipes a stream body through `stream.pipeline`, whose cost per response (an
 * AbortController and listeners) outweighs sending a few KiB.
 */
export const BUFFERED_BODY_BYTES = 64 * 1024;

export interface DownloadTarget {
  fileId: string;
  /** Size when the request started; needed only when the request has a Range header. */
  size?: number;
}

/**
 * Send a file's content as the response. Without `Range` the body is the whole file
 * (200). One satisfiable range gives 206 with `Content-Range`, several give 206
 * `multipart/byteranges`. An unsatisfiable or malformed Range gives 416 with
 * a `Content-Range` header of the form `bytes *` + `/<size>`, as Onedata does for malformed ones too.
 */
export async function sendFileContent(
  ctx: AppContext,
  lfs: LogicalFileSystem,
  who: Identity,
  target: DownloadTarget,
): Promise<void> {
  const rangeHeader = ctx.get('Range');
  ctx.set('Accept-Ranges', 'bytes');

  if (rangeHeader === '') {
    const result = await lfs.read(who, target.fileId);
    ctx.status = 200;
    ctx.type = OCTET_STREAM;
    await setBody(ctx, result.stream, result.fileSize);
    return;
  }

  const size = target.size ?? (await regularFileSize(lfs, who, target.fileId));
  const ranges = rangeParser(size, rangeHeader, { combine: true });
  if (ranges === -1 || ranges === -2 || ranges.type !== 'bytes') {
    throw new ApiError(
      416,
      'rangeNotSatisfiable',
      `range "${rangeHeader}" is malformed or outside the file of ${size} bytes`,
      { range: rangeHeader, size },
      { 'Content-Range': `bytes */${size}` },
    );
  }

  const range = ranges[0];
  if (ranges.length === 1 && range !== undefined) {
    const result = await lfs.read(who, target.fileId, { offset: range.start, length: range.end - range.start + 1 });
    ctx.status = 206;
    ctx.type = OCTET_STREAM;
    ctx.set('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
    await setBody(ctx, result.stream, range.end - range.start + 1);
    return;
  }

  sendMultipartRanges(ctx, lfs, who, target.fileId, ranges, size);
}

/**
 * Send `stream` of `length` bytes, collected into a buffer when small and piped otherwise.
 * A small body that ends short fails the request before any byte is sent, much as a
 * short stream aborts the response.
 */
async function setBody(ctx: AppContext, stream: Readable, length: number): Promise<void> {
  if (length > BUFFERED_BODY_BYTES) {
    ctx.length = length;
    ctx.body = stream;
    return;
  }

  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  if (body.length !== length) {
    throw new OpError('unavailable', `the storage returned ${body.length} bytes of content, expected ${length}`, {
      expected: length,
      received: body.length,
    });
  }
  ctx.body = body;
}

/** Size of a regular file; a directory is `eisdir`, as a download without Range reports it. */
async function regularFileSize(lfs: LogicalFileSystem, who: Identity, fileId: string): Promise<number> {
  const attributes = await lfs.getAttributes(who, fileId);
  if (attributes.type === 'DIR') throw OpError.posix('eisdir', `"${attributes.name}" is a directory`);
  return attributes.size;
}

/** Stream several ranges as `multipart/byteranges`, with an exact Content-Length. */
function sendMultipartRanges(
  ctx: AppContext,
  lfs: LogicalFileSystem,
  who: Identity,
  fileId: string,
  ranges: rangeParser.Ranges,
  size: number,
): void {
  const boundary = randomBytes(12).toString('hex');
  const partHeaders = ranges.map(
    (range, index) =>
      `${index === 0 ? '' : '\r\n'}--${boundary}\r\nContent-Type: ${OCTET_STREAM}\r\n` +
      `Content-Range: bytes ${range.start}-${range.end}/${size}\r\n\r\n`,
  );
  const trailer = `\r\n--${boundary}--\r\n`;

  let length = Buffer.byteLength(trailer);
  ranges.forEach((range, index) => {
    length += Buffer.byteLength(partHeaders[index] ?? '') + range.end - range.start + 1;
  });

  async function* parts(): AsyncGenerator<Buffer> {
    for (const [index, range] of ranges.entries()) {
      yield Buffer.from(partHeaders[index] ?? '');
      const result = await lfs.read(who, fileId, { offset: range.start, length: range.end - range.start + 1 });
      for await (const chunk of result.stream as AsyncIterable<Buffer>) yield chunk;
    }
    yield Buffer.from(trailer);
  }

  ctx.status = 206;
  ctx.type = `multipart/byteranges; boundary=${boundary}`;
  ctx.length = length;
  ctx.body = Readable.from(parts(), { objectMode: false });
}

/** Declared body length, or undefined for chunked bodies. Throws 400 on a malformed header. */
export function declaredContentLength(ctx: AppContext): number | undefined {
  const header = ctx.get('Content-Length');
  if (header === '') return undefined;
  if (!/^\d+$/.test(header)) throw ApiError.badData('Content-Length', `Content-Length "${header}" is not a byte count`);
  return Number(header);
}

/** Tell whether the request carries a body: a non-zero Content-Length or a chunked transfer. */
export function hasRequestBody(ctx: AppContext): boolean {
  const length = declaredContentLength(ctx);
  if (length !== undefined) return length > 0;
  return ctx.get('Transfer-Encoding') !== '';
}
