import { Readable } from 'node:stream';
import { OpError, type FileAccess, type FileAttributes, type JsonValue } from '@op-worker/core';
import { ApiError } from '../errors.js';
import { declaredContentLength, sendFileContent } from '../http/content.js';
import type { AppContext } from '../state.js';
import {
  CONTAINER_TYPE,
  OBJECT_TYPE,
  OCTET_STREAM,
  assertNameAllowed,
  completionChange,
  completionOf,
  encodingOf,
  findFile,
  mayAccess,
  logicalPath,
  mimetypeOf,
  negotiateType,
  parentUri,
  redirect,
  requireVersion,
  selectFields,
  sendJson,
  updateObjectXattrs,
  type CdmiRequest,
} from './common.js';
import { copyOrMove, parseTransferFields } from './copy-move.js';
import { decodeBase64Stream, streamCdmiObject, type ValueEncoding } from './encoding.js';
import { JsonObjectReader } from './json-stream.js';
import { applyMetadata, metadataAccesses, metadataOf, validateMetadata } from './metadata.js';

/** CDMI data objects (regular files): reads and writes in CDMI JSON or as plain HTTP bodies. */

/**
 * CDMI bodies up to this size are read whole and checked before anything is stored.
 * Larger ones stream `value` to storage as it arrives; see `putCdmiDataObject`.
 */
const MAX_CHECKED_BODY_BYTES = 1024 * 1024;
/** Largest body member other than `value` (metadata, mimetype, ...), in bytes of JSON text. */
const MAX_MEMBER_BYTES = 1024 * 1024;
const OBJECT_BODY_FIELDS = new Set([
  'value', 'valuetransferencoding', 'mimetype', 'metadata', 'domainURI',
  'copy', 'move', 'reference', 'deserialize', 'deserializevalue',
]);
/** One `Range` item: `from-to`, `from-` or `-suffix`. */
const RANGE_ITEM = /^(\d+)-(\d*)$|^-(\d+)$/;

export async function getDataObject(request: CdmiRequest): Promise<void> {
  const { ctx, lfs, who, segments, version } = request;
  const file = segments.length === 0 ? undefined : await lfs.lookupPath(who, logicalPath(segments));
  if (file === undefined || file.type === 'DIR') {
    redirect(ctx, segments, true);
    return;
  }
  const xattrs = await lfs.getXattrs(who, file.fileId);
  const mimetype = mimetypeOf(xattrs);

  if (version === undefined) {
    if (ctx.get('Accept').includes(OBJECT_TYPE)) requireVersion(request);
    await sendRawContent(request, file, mimetype);
    return;
  }

  const type = negotiateType(ctx, [OBJECT_TYPE, mimetype, 'application/binary', OCTET_STREAM]);
  if (type === OBJECT_TYPE) await sendCdmiObject(request, file, xattrs);
  else await sendRawContent(request, file, mimetype);
}

/** Send the object as CDMI JSON, its value encoded on the fly as the last field. */
async function sendCdmiObject(request: CdmiRequest, file: FileAttributes, xattrs: Record<string, JsonValue>): Promise<void> {
  const { ctx, lfs, who, query } = request;
  // A value range is always base64, as the standard requires, because a range may cut a UTF-8 character.
  const encoding: ValueEncoding = query.valueRange === undefined ? encodingOf(xattrs) : 'base64';
  const valueRange = clampRange(query.valueRange, file.size);
  const fields: Record<string, unknown> = {
    ...(await dataObjectFields(request, file, xattrs)),
    valuetransferencoding: encoding,
    valuerange: valueRange === undefined ? '' : `${valueRange.from}-${valueRange.to}`,
  };

  const selected = selectFields(fields, query);
  if (query.fields !== undefined && !query.fields.has('value')) {
    sendJson(ctx, OBJECT_TYPE, selected);
    return;
  }

  const content = valueRange === undefined
    ? Readable.from([])
    : (await lfs.read(who, file.fileId, { offset: valueRange.from, length: valueRange.to - valueRange.from + 1 })).stream;
  ctx.status = 200;
  ctx.type = OBJECT_TYPE;
  ctx.body = streamCdmiObject(selected, content as AsyncIterable<Buffer>, encoding);
}

async function dataObjectFields(request: CdmiRequest, file: FileAttributes, xattrs: Record<string, JsonValue>): Promise<Record<string, unknown>> {
  const { services, who } = request;
  return {
    objectType: OBJECT_TYPE,
    objectID: file.fileId,
    objectName: file.name,
    parentURI: parentUri(request.segments),
    parentID: file.parentFileId,
    capabilitiesURI: await services.capabilitiesUri(file.spaceId, 'dataobject'),
    completionStatus: completionOf(xattrs),
    metadata: await metadataOf(services, who, file, xattrs, request.query.metadataPrefix),
    mimetype: mimetypeOf(xattrs),
  };
}

/** Send the content as the body, honouring `Range`. A malformed Range is 416 like an unsatisfiable one. */
async function sendRawContent(request: CdmiRequest, file: FileAttributes, mimetype: string): Promise<void> {
  const { ctx, lfs, who } = request;
  assertRangeSyntax(ctx, file.size);
  await sendFileContent(ctx, lfs, who, { fileId: file.fileId, size: file.size });
  if (ctx.status === 200 || (ctx.status === 206 && !ctx.response.type.startsWith('multipart/'))) ctx.type = mimetype;
}

function assertRangeSyntax(ctx: AppContext, size: number): void {
  const header = ctx.get('Range');
  if (header === '') return;

  const match = /^bytes=(.+)$/.exec(header.replace(/\s+/g, ''));
  const valid = match?.[1]?.split(',').every((item) => {
    const parts = RANGE_ITEM.exec(item);
    if (parts === null) return false;
    return parts[2] === undefined || parts[2] === '' || Number(parts[1]) <= Number(parts[2]);
  });
  if (valid !== true) {
    throw new ApiError(416, 'rangeNotSatisfiable', `range "${header}" is malformed; send e.g. "bytes=0-99", "bytes=100-" or "bytes=-100"`, { range: header, size }, {
      'Content-Range': `bytes */${size}`,
    });
  }
}

/** Cut the requested value range to the file; undefined when no byte falls inside. */
function clampRange(range: { from: number; to: number } | undefined, size: number): { from: number; to: number } | undefined {
  const from = range?.from ?? 0;
  const to = Math.min(range?.to ?? size - 1, size - 1);
  return from > to ? undefined : { from, to };
}

export async function putDataObject(request: CdmiRequest): Promise<void> {
  const { ctx, segments } = request;
  const contentType = ctx.request.type;
  if (contentType === CONTAINER_TYPE) {
    throw new OpError('badIdentifier', 'a path without a trailing "/" names a data object; add the slash to create a container', { key: 'path' });
  }
  if (segments.length < 2) throw OpError.posix('eperm', 'a data object must be inside a space');

  if (contentType === OBJECT_TYPE) {
    requireVersion(request);
    await putCdmiDataObject(request);
  } else {
    await putRawDataObject(request);
  }
}

/** Members of a CDMI PUT body read so far, with `value` either held in memory or already stored. */
interface ObjectBody {
  fields: Record<string, JsonValue>;
  /** Decoded value of a body small enough to be checked before storing. */
  value?: Buffer;
  /** The file that a streamed value was written to. */
  written?: FileAttributes;
}

/**
 * CDMI PUT: value (utf-8 or base64), mimetype and metadata in a JSON body, or a copy or
 * move. A body up to `MAX_CHECKED_BODY_BYTES` is parsed and checked whole before
 * storage changes, so bad input changes nothing. A larger body is parsed as a stream:
 * members before `value` are checked first, then `value` is decoded straight into the
 * file, so memory stays flat whatever its size. On an existing object, every access the
 * request needs (content, metadata, ACL) is checked before the value is stored, so a
 * denial leaves the object as it was.
 * NOTE: for a large body, an error found inside or after `value` (invalid base64, an
 * unknown member after it, a member needing access that the members before `value` did
 * not) leaves an existing file partly written. A file that this request created is
 * removed again.
 */
async function putCdmiDataObject(request: CdmiRequest): Promise<void> {
  const { ctx, lfs, who, segments, query } = request;
  const existing = await findFile(lfs, who, segments);
  if (existing?.type === 'DIR') throw OpError.posix('eisdir', `"${existing.path}" is a container; add a trailing "/"`);
  if (existing === undefined) assertNameAllowed(segments.at(-1) ?? '');
  const completion = await completionChange(ctx, lfs, who, existing);

  let body: ObjectBody = { fields: {} };
  let created: FileAttributes | undefined;
  try {
    body = await readObjectBody(request, existing, completion);
    if (existing === undefined) created = body.written;
    const transfer = parseTransferFields(body.fields);
    const metadata = body.fields['metadata'] === undefined ? undefined : validateMetadata(body.fields['metadata']);
    if (existing !== undefined && transfer === undefined && body.written === undefined) {
      await lfs.checkAccess(who, existing.fileId, putAccesses(request, body.fields, body.value !== undefined, completion));
    }

    let file: FileAttributes;
    if (transfer !== undefined) file = await copyOrMove(request, transfer, 'REG');
    else if (body.written !== undefined) file = body.written;
    else file = await storeValue(request, existing, body.value === undefined ? undefined : Readable.from([body.value]), body.value?.length);
    if (existing === undefined && transfer === undefined) created = file;

    const given = body.fields['valuetransferencoding'] as ValueEncoding | undefined;
    const hasValue = body.value !== undefined || body.written !== undefined;
    await updateObjectXattrs(lfs, who, file.fileId, {
      mimetype: body.fields['mimetype'] as string | undefined,
      encoding: given ?? (existing === undefined && transfer === undefined && hasValue && query.valueRange === undefined ? 'utf-8' : undefined),
      completion,
    });
    if (metadata !== undefined) await applyMetadata(lfs, who, file.fileId, metadata, query.metadataNames);

    if (existing !== undefined) {
      ctx.status = 204;
      return;
    }
    const attributes = await lfs.getAttributes(who, file.fileId);
    const xattrs = await lfs.getXattrs(who, file.fileId);
    sendJson(ctx, OBJECT_TYPE, { ...(await dataObjectFields(request, attributes, xattrs)), valuetransferencoding: encodingOf(xattrs) }, 201);
  } catch (error) {
    if (created !== undefined) await lfs.remove(who, created.fileId).catch(() => undefined);
    throw error;
  }
}

/**
 * Return the access a CDMI PUT to an existing object needs, from the body members read
 * so far: write-object for a value, write-metadata for a mimetype, an encoding or a
 * completion status change, and what its `metadata` member needs.
 */
function putAccesses(
  request: CdmiRequest,
  fields: Record<string, JsonValue>,
  hasValue: boolean,
  completion: 'Processing' | 'Complete' | undefined,
): FileAccess[] {
  const accesses = new Set<FileAccess>();
  if (hasValue) accesses.add('write_object');
  if (fields['mimetype'] !== undefined || fields['valuetransferencoding'] !== undefined || completion !== undefined) accesses.add('write_metadata');
  if (fields['metadata'] !== undefined) {
    for (const access of metadataAccesses(validateMetadata(fields['metadata']), request.query.metadataNames)) accesses.add(access);
  }
  return [...accesses];
}

/**
 * Parse the body member by member; `value` is held (small body) or stored as it streams
 * (large body). Before a streamed value is stored in an existing object, the access
 * that the members read so far need is checked.
 */
async function readObjectBody(
  request: CdmiRequest,
  existing: FileAttributes | undefined,
  completion: 'Processing' | 'Complete' | undefined,
): Promise<ObjectBody> {
  const { ctx, query, lfs, who } = request;
  const declared = declaredContentLength(ctx);
  const checkedFirst = declared !== undefined && declared <= MAX_CHECKED_BODY_BYTES;
  const reader = new JsonObjectReader(ctx.req, { streamedField: 'value', maxMemberBytes: MAX_MEMBER_BYTES });
  const body: ObjectBody = { fields: {} };

  for (let member = await reader.nextMember(); member !== undefined; member = await reader.nextMember()) {
    if (!OBJECT_BODY_FIELDS.has(member.name)) throw new ApiError(400, 'badValue', `unknown body field "${member.name}" for a data object`, { key: member.name });
    if (member.kind === 'value') {
      checkField(member.name, member.value);
      body.fields[member.name] = member.value;
      parseTransferFields(body.fields);
      continue;
    }

    body.fields['value'] = '';
    parseTransferFields(body.fields);
    const encoding: ValueEncoding = query.valueRange !== undefined ? 'base64' : ((body.fields['valuetransferencoding'] as ValueEncoding | undefined) ?? 'utf-8');
    const decoded = checkRangeLength(decodeValueStream(member.bytes, encoding), query.valueRange);
    if (checkedFirst) {
      body.value = await collect(decoded);
      continue;
    }
    if (existing !== undefined) await lfs.checkAccess(who, existing.fileId, putAccesses(request, body.fields, true, completion));
    // The storage layer wraps a failing input stream in its own error; report the input's error instead.
    const failure: { error?: unknown } = {};
    const size = query.valueRange === undefined ? undefined : query.valueRange.to - query.valueRange.from + 1;
    body.written = await storeValue(request, existing, Readable.from(rememberFailure(decoded, failure)), size).catch((error: unknown) => {
      throw failure.error ?? error;
    });
  }
  if (query.valueRange !== undefined && body.value === undefined && body.written === undefined) {
    throw ApiError.badData('range', `a ?value:${query.valueRange.from}-${query.valueRange.to} write needs a "value" in the body`);
  }
  return body;
}

function checkField(name: string, value: JsonValue): void {
  if (name === 'value' && typeof value !== 'string') throw new ApiError(400, 'badValue', 'body field "value" must be a string', { key: 'value' });
  if (name === 'valuetransferencoding' && value !== 'utf-8' && value !== 'base64') {
    throw new ApiError(400, 'badValue', `valuetransferencoding "${String(value)}" is invalid; use "utf-8" or "base64"`, { key: name });
  }
  if (name === 'mimetype' && (typeof value !== 'string' || value === '')) {
    throw new ApiError(400, 'badValue', 'body field "mimetype" must be a non-empty string', { key: name });
  }
}

/** Write a value: a new file, a whole replacement, or (with `?value:a-b`) bytes at offset `a`. */
async function storeValue(request: CdmiRequest, existing: FileAttributes | undefined, content: Readable | undefined, size: number | undefined): Promise<FileAttributes> {
  const { lfs, who, segments, query } = request;
  const offset = query.valueRange?.from;
  if (existing === undefined) {
    const parent = await lfs.lookupPath(who, logicalPath(segments.slice(0, -1)));
    return lfs.create(who, parent.fileId, segments.at(-1) ?? '', { type: 'REG', content: content ?? Readable.from([]), size: content === undefined ? 0 : size, offset });
  }
  if (content === undefined) return existing;
  return lfs.write(who, existing.fileId, content, { offset, size });
}

function decodeValueStream(text: AsyncIterable<Buffer>, encoding: ValueEncoding): AsyncIterable<Buffer> {
  return encoding === 'base64' ? decodeBase64Stream(text) : text;
}

/** Pass bytes through, failing with 400 (key `range`) when they do not fill `range` exactly. */
async function* checkRangeLength(bytes: AsyncIterable<Buffer>, range: { from: number; to: number } | undefined): AsyncGenerator<Buffer> {
  const expected = range === undefined ? undefined : range.to - range.from + 1;
  let total = 0;
  for await (const chunk of bytes) {
    total += chunk.length;
    if (expected !== undefined && total > expected) throw rangeMismatch(range, expected);
    yield chunk;
  }
  if (expected !== undefined && total !== expected) throw rangeMismatch(range, expected);
}

function rangeMismatch(range: { from: number; to: number } | undefined, expected: number): ApiError {
  return ApiError.badData('range', `value must decode to exactly ${expected} bytes for range ${range?.from}-${range?.to}`);
}

async function* rememberFailure(bytes: AsyncIterable<Buffer>, failure: { error?: unknown }): AsyncGenerator<Buffer> {
  try {
    yield* bytes;
  } catch (error) {
    failure.error = error;
    throw error;
  }
}

async function collect(bytes: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of bytes) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/**
 * Non-CDMI PUT: the body is the content; `Content-Range` writes part of the file. The
 * `Content-Type` is recorded as the mimetype of a new object, and of an existing one
 * when `who` may write its metadata. Otherwise the stored mimetype stays, because the
 * header describes the transfer and most clients send one. A partial upload mark
 * (`X-CDMI-Partial`) needs write-metadata access and is checked before the content.
 */
async function putRawDataObject(request: CdmiRequest): Promise<void> {
  const { ctx, lfs, who, segments } = request;
  const size = declaredContentLength(ctx);
  const offset = contentRangeOffset(ctx.get('Content-Range'), size);

  const existing = await findFile(lfs, who, segments);
  if (existing?.type === 'DIR') throw OpError.posix('eisdir', `"${existing.path}" is a container; add a trailing "/"`);
  const completion = await completionChange(ctx, lfs, who, existing);
  const utf8 = /charset\s*=\s*"?utf-8"?/i.test(ctx.get('Content-Type'));
  const described = ctx.request.type !== '' || utf8;

  let fileId: string;
  let recordType = true;
  if (existing === undefined) {
    const name = segments.at(-1) ?? '';
    assertNameAllowed(name);
    const parent = await lfs.lookupPath(who, logicalPath(segments.slice(0, -1)));
    const file = await lfs.create(who, parent.fileId, name, { type: 'REG', content: ctx.req, size, offset });
    fileId = file.fileId;
    ctx.status = 201;
  } else {
    await lfs.checkAccess(who, existing.fileId, completion === undefined ? ['write_object'] : ['write_object', 'write_metadata']);
    recordType = described && (await mayAccess(lfs, who, existing.fileId, ['write_metadata']));
    await lfs.write(who, existing.fileId, ctx.req, { offset, size });
    fileId = existing.fileId;
    ctx.status = 204;
  }

  await updateObjectXattrs(lfs, who, fileId, {
    mimetype: recordType && ctx.request.type !== '' ? ctx.request.type : undefined,
    encoding: recordType && utf8 ? 'utf-8' : undefined,
    completion,
  });
}

/** Offset of a `Content-Range: bytes from-to/(total|*)` upload; the body must fill the range exactly. */
function contentRangeOffset(header: string, bodyLength: number | undefined): number | undefined {
  if (header === '') return undefined;

  const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header.trim());
  const from = Number(match?.[1]);
  const to = Number(match?.[2]);
  if (match === null || from > to || (bodyLength !== undefined && bodyLength !== to - from + 1)) {
    throw ApiError.badData('content-range', `Content-Range "${header}" is invalid or does not match the body length; send one range "bytes from-to/total" covering the whole body`);
  }
  return from;
}
