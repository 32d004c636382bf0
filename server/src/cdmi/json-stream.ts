import type { JsonValue } from '@op-worker/core';
import { ApiError } from '../errors.js';

/**
 * A streaming reader for one JSON object, built for CDMI request bodies whose `value`
 * may be gigabytes long. Members are returned one at a time. The string member named
 * `streamedField` comes as a stream of its unescaped UTF-8 bytes, read from the body
 * as the consumer pulls it. Every other member is parsed into a `JsonValue` and may
 * take at most `maxMemberBytes` of body text.
 */

export type JsonMember =
  | { name: string; kind: 'value'; value: JsonValue }
  | { name: string; kind: 'stream'; bytes: AsyncIterable<Buffer> };

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const SIMPLE_ESCAPES: Record<number, number> = { 0x22: 0x22, 0x5c: 0x5c, 0x2f: 0x2f, 0x62: 0x08, 0x66: 0x0c, 0x6e: 0x0a, 0x72: 0x0d, 0x74: 0x09 };

/** Reads bytes from an async source one chunk at a time, keeping only the current chunk. */
class ByteReader {
  private chunk: Buffer = Buffer.alloc(0);
  private position = 0;
  /** Bytes consumed before the current chunk, for error positions. */
  private consumed = 0;
  private readonly iterator: AsyncIterator<Buffer>;

  constructor(source: AsyncIterable<Buffer>) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  get offset(): number {
    return this.consumed + this.position;
  }

  /** Make at least one unread byte available; false at the end of the body. */
  async fill(): Promise<boolean> {
    while (this.position >= this.chunk.length) {
      const next = await this.iterator.next();
      if (next.done === true) return false;
      this.consumed += this.chunk.length;
      this.chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
      this.position = 0;
    }
    return true;
  }

  async peek(): Promise<number | undefined> {
    return (await this.fill()) ? this.chunk[this.position] : undefined;
  }

  async next(): Promise<number | undefined> {
    if (!(await this.fill())) return undefined;
    const byte = this.chunk[this.position];
    this.position += 1;
    return byte;
  }

  /** Take the unread bytes of the current chunk up to (not including) the first byte in `stops`. */
  takeUntil(stops: readonly number[]): Buffer {
    let end = this.chunk.length;
    for (const stop of stops) {
      const index = this.chunk.indexOf(stop, this.position);
      if (index >= 0 && index < end) end = index;
    }
    const taken = this.chunk.subarray(this.position, end);
    this.position = end;
    return taken;
  }
}

export class JsonObjectReader {
  private readonly reader: ByteReader;
  private state: 'start' | 'members' | 'streaming' | 'done' = 'start';
  private readonly seen = new Set<string>();

  constructor(
    source: AsyncIterable<Buffer>,
    private readonly options: { streamedField: string; maxMemberBytes: number },
  ) {
    this.reader = new ByteReader(source);
  }

  /**
   * Return the next member, or undefined after the closing brace (or for an empty
   * body, which reads as an object without members). A streamed member must be read
   * to its end before this is called again.
   */
  async nextMember(): Promise<JsonMember | undefined> {
    if (this.state === 'streaming') throw new Error('the streamed JSON member was not read to its end');
    if (this.state === 'done') return undefined;

    if (this.state === 'start') {
      const first = await this.skipSpace();
      if (first === undefined) return this.finish();
      await this.expect(0x7b, '"{"');
      if ((await this.skipSpace()) === 0x7d) {
        await this.reader.next();
        return this.finishAfterObject();
      }
      this.state = 'members';
    } else {
      const separator = await this.skipSpace();
      if (separator === 0x7d) {
        await this.reader.next();
        return this.finishAfterObject();
      }
      await this.expect(0x2c, '"," or "}"');
      await this.skipSpace();
    }
    return this.readMember();
  }

  private async readMember(): Promise<JsonMember> {
    if ((await this.reader.peek()) !== QUOTE) throw this.syntaxError('a member name in double quotes');
    const name = JSON.parse((await this.readRawValue()).toString('utf8')) as string;
    if (this.seen.has(name)) throw ApiError.badData('body', `request body has the member "${name}" twice`);
    this.seen.add(name);

    await this.skipSpace();
    await this.expect(0x3a, '":"');
    const start = await this.skipSpace();

    if (name === this.options.streamedField && start === QUOTE) {
      await this.reader.next();
      this.state = 'streaming';
      return { name, kind: 'stream', bytes: this.streamString() };
    }
    const raw = await this.readRawValue();
    try {
      return { name, kind: 'value', value: JSON.parse(raw.toString('utf8')) as JsonValue };
    } catch {
      throw this.syntaxError(`a JSON value for "${name}"`);
    }
  }

  /** Yield the unescaped bytes of a string whose opening quote was consumed. */
  private async *streamString(): AsyncGenerator<Buffer> {
    for (;;) {
      if (!(await this.reader.fill())) throw this.syntaxError('the end of the string');
      const text = this.reader.takeUntil([QUOTE, BACKSLASH]);
      if (text.length > 0) {
        if (hasControlCharacter(text)) throw ApiError.badData('body', 'request body has a control character inside a string');
        yield text;
        continue;
      }

      const byte = await this.reader.next();
      if (byte === QUOTE) break;
      yield await this.readEscape();
    }
    this.state = 'members';
  }

  /** Decode one escape after its backslash, joining `\uD83D\uDE00` surrogate pairs. */
  private async readEscape(): Promise<Buffer> {
    const kind = await this.reader.next();
    if (kind === undefined) throw this.syntaxError('an escape sequence');
    const simple = SIMPLE_ESCAPES[kind];
    if (simple !== undefined) return Buffer.from([simple]);
    if (kind !== 0x75) throw this.syntaxError('a valid escape sequence');

    const unit = await this.readHex4();
    if (unit >= 0xd800 && unit <= 0xdbff && (await this.reader.peek()) === BACKSLASH) {
      await this.reader.next();
      if ((await this.reader.next()) !== 0x75) throw this.syntaxError('a low surrogate escape');
      const low = await this.readHex4();
      return Buffer.from(String.fromCharCode(unit, low), 'utf8');
    }
    return Buffer.from(String.fromCharCode(unit), 'utf8');
  }

  private async readHex4(): Promise<number> {
    let text = '';
    for (let index = 0; index < 4; index += 1) text += String.fromCharCode((await this.reader.next()) ?? 0);
    if (!/^[0-9a-fA-F]{4}$/.test(text)) throw this.syntaxError('four hex digits after \\u');
    return Number.parseInt(text, 16);
  }

  /** Read the text of one JSON value (string, number, literal, object or array) without parsing it. */
  private async readRawValue(): Promise<Buffer> {
    const parts: number[] = [];
    let depth = 0;
    let inString = false;
    let escaped = false;

    for (;;) {
      const byte = await this.reader.peek();
      if (byte === undefined) {
        if (depth === 0 && !inString && parts.length > 0) break;
        throw this.syntaxError('the end of a value');
      }
      if (!inString && depth === 0 && parts.length > 0 && (byte === 0x2c || byte === 0x7d || byte === 0x5d || isSpace(byte))) break;

      await this.reader.next();
      parts.push(byte);
      if (parts.length > this.options.maxMemberBytes) {
        throw new ApiError(413, 'payloadTooLarge', `a request body member is longer than ${this.options.maxMemberBytes} bytes`);
      }

      if (inString) {
        if (escaped) escaped = false;
        else if (byte === BACKSLASH) escaped = true;
        else if (byte === QUOTE) inString = false;
        if (!inString && depth === 0) break;
      } else if (byte === QUOTE) inString = true;
      else if (byte === 0x7b || byte === 0x5b) depth += 1;
      else if (byte === 0x7d || byte === 0x5d) {
        depth -= 1;
        if (depth === 0) break;
      }
    }
    return Buffer.from(parts);
  }

  private async skipSpace(): Promise<number | undefined> {
    for (;;) {
      const byte = await this.reader.peek();
      if (byte === undefined || !isSpace(byte)) return byte;
      await this.reader.next();
    }
  }

  private async expect(byte: number, what: string): Promise<void> {
    if ((await this.reader.next()) !== byte) throw this.syntaxError(what);
  }

  private async finishAfterObject(): Promise<undefined> {
    if ((await this.skipSpace()) !== undefined) throw this.syntaxError('the end of the body after the object');
    return this.finish();
  }

  private finish(): undefined {
    this.state = 'done';
    return undefined;
  }

  private syntaxError(expected: string): ApiError {
    return ApiError.badData('body', `request body is not a valid JSON object: expected ${expected} at byte ${this.reader.offset}`);
  }
}

/**
 * Tell whether any byte is below 0x20. Whole 32-bit words are tested at once:
 * `(w - 0x20202020) & ~w & 0x80808080` is non-zero exactly when some byte of `w` is below
 * 0x20 (the "has less than" bit trick, exact for limits up to 0x80).
 */
function hasControlCharacter(bytes: Buffer): boolean {
  const head = Math.min(bytes.length, (4 - (bytes.byteOffset % 4)) % 4);
  if (hasControlByte(bytes, 0, head)) return true;

  const words = (bytes.length - head) >>> 2;
  if (words === 0) return hasControlByte(bytes, head, bytes.length);
  const view = new Uint32Array(bytes.buffer, bytes.byteOffset + head, words);
  for (let index = 0; index < words; index += 1) {
    const word = view[index] ?? 0;
    if (((word - 0x20202020) & ~word & 0x80808080) !== 0) return true;
  }
  return hasControlByte(bytes, head + words * 4, bytes.length);
}

function hasControlByte(bytes: Buffer, from: number, to: number): boolean {
  for (let index = from; index < to; index += 1) {
    if ((bytes[index] ?? 0) < 0x20) return true;
  }
  return false;
}

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;
}
