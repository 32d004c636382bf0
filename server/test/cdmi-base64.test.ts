import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import anyTest, { type TestFn } from 'ava';
import { ApiError } from '../src/errors.js';
import { decodeBase64Stream, decodeValue } from '../src/cdmi/encoding.js';
import { JsonObjectReader } from '../src/cdmi/json-stream.js';
import { send, startTestWorker, type TestWorker } from './helpers.js';

/**
 * Base64 values of CDMI JSON data objects. The sizes surround the 3-byte groups that
 * the encoder and decoder carry between chunks, and bodies are read whole (up to 1 MiB)
 * or streamed. Invalid text must fail wherever the chunks of a body split it.
 */

const test = anyTest as TestFn<TestWorker>;

const CDMI_OBJECT = { 'X-CDMI-Specification-Version': '1.1.1', 'Content-Type': 'application/cdmi-object', Accept: 'application/cdmi-object' };
const MiB = 1024 * 1024;
/** Content sizes that leave 0, 1 or 2 bytes past a group of 3, and bodies read whole or streamed. */
const SIZES = [0, 1, 2, 3, 4, MiB - 1, MiB, MiB + 1];

test.before(async (t) => {
  t.context = await startTestWorker();
});

test.after.always(async (t) => {
  await t.context.close();
});

async function collect(bytes: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of bytes) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Yield `text` as latin1 bytes, cut at every offset in `cuts`. */
async function* split(text: string, cuts: number[]): AsyncGenerator<Buffer> {
  let start = 0;
  for (const cut of [...cuts, text.length]) {
    yield Buffer.from(text.slice(start, cut), 'latin1');
    start = cut;
  }
}

async function decodeError(text: string, cuts: number[]): Promise<ApiError | undefined> {
  try {
    await collect(decodeBase64Stream(split(text, cuts)));
    return undefined;
  } catch (error) {
    return error as ApiError;
  }
}

for (const size of SIZES) {
  test.serial(`base64 round trip: ${size} bytes`, async (t) => {
    const content = randomBytes(size);
    const name = `/cdmi/default/odd-${size}.bin`;
    const put = await send(t.context, name, {
      method: 'PUT',
      headers: CDMI_OBJECT,
      body: JSON.stringify({ valuetransferencoding: 'base64', value: content.toString('base64') }),
    });
    t.is(put.status, 201, put.text);

    const read = await send(t.context, name, { headers: CDMI_OBJECT });
    t.is(read.status, 200);
    t.is(read.json.valuetransferencoding, 'base64');
    t.is(read.json.value, content.toString('base64'));
    t.deepEqual(Buffer.from(read.json.value as string, 'base64'), content);
  });
}

test('stream decoder: any cuts, same bytes', async (t) => {
  for (const size of [0, 1, 2, 3, 4, 5]) {
    const content = randomBytes(size);
    const text = content.toString('base64');
    for (let first = 0; first <= text.length; first += 1) {
      for (let second = first; second <= text.length; second += 1) {
        t.deepEqual(await collect(decodeBase64Stream(split(text, [first, second]))), content, `${size} bytes cut at ${first} and ${second}`);
      }
    }
  }
});

test('stream decoder: invalid text at any cut', async (t) => {
  const valid = Buffer.from('abcdefghi').toString('base64');
  const invalid = [
    `${valid.slice(0, 5)}#${valid.slice(6)}`,
    `${valid.slice(0, 5)}-${valid.slice(6)}`,
    `${valid.slice(0, 5)}_${valid.slice(6)}`,
    `${valid.slice(0, 5)}é${valid.slice(6)}`,
    `${valid.slice(0, 4)}QQ==${valid.slice(4)}`,
    `${valid}QQ==QUJD`,
    `${valid}Q===`,
    `${valid}Q`,
    `${valid}QUJ`,
    `${valid}=`,
  ];
  for (const text of invalid) {
    for (let cut = 0; cut <= text.length; cut += 1) {
      const error = await decodeError(text, [cut]);
      t.true(error instanceof ApiError, `${JSON.stringify(text)} cut at ${cut}`);
      t.is(error?.status, 400);
      t.is(error?.details['key'], 'base64');
    }
  }
});

test('stream decoder: invalid byte at chunk boundaries', async (t) => {
  const text = randomBytes(MiB).toString('base64');
  // Chunks of 40,001 bytes, as a socket might deliver them: neither 4-aligned nor large enough to be decoded alone.
  const chunkCuts = Array.from({ length: Math.floor(text.length / 40_001) }, (_, index) => (index + 1) * 40_001);
  for (const position of [0, 40_000, 40_001, 40_002, 80_002, 500_000, text.length - 1]) {
    const broken = `${text.slice(0, position)}*${text.slice(position + 1)}`;
    for (const cuts of [[], chunkCuts, [position], [position + 1]]) {
      const error = await decodeError(broken, cuts);
      t.is(error?.status, 400, `invalid byte at ${position}, ${cuts.length} cuts`);
    }
  }

  t.deepEqual(await collect(decodeBase64Stream(split(text, chunkCuts))), Buffer.from(text, 'base64'));
});

test('decodeValue: strict base64', (t) => {
  t.deepEqual(decodeValue('QUJD', 'base64'), Buffer.from('ABC'));
  t.deepEqual(decodeValue('QQ==', 'base64'), Buffer.from('A'));
  for (const text of ['QUJ', 'Q-JD', 'Q_JD', 'QUJ\u0141', '#$%=', 'QQ==QUJD', 'Q===']) {
    t.throws(() => decodeValue(text, 'base64'), { instanceOf: ApiError }, text);
  }
});

test('JSON reader: control character anywhere', async (t) => {
  const prefix = Buffer.from('{"value":"');
  const suffix = Buffer.from('"}');
  for (let length = 1; length <= 12; length += 1) {
    for (let position = 0; position < length; position += 1) {
      // Each shift starts the string at another offset from a 4-byte boundary of the underlying memory.
      for (let shift = 0; shift < 4; shift += 1) {
        const memory = Buffer.alloc(shift + prefix.length + length + suffix.length, 0x41);
        prefix.copy(memory, shift);
        suffix.copy(memory, shift + prefix.length + length);
        memory[shift + prefix.length + position] = 0x1f;
        const body = memory.subarray(shift);

        const reader = new JsonObjectReader((async function* () { yield body; })(), { streamedField: 'value', maxMemberBytes: 1024 });
        const member = await reader.nextMember();
        if (member?.kind !== 'stream') throw new Error('expected a streamed value');
        await t.throwsAsync(collect(member.bytes), { instanceOf: ApiError, message: /control character/ }, `${length} bytes, control at ${position}, shift ${shift}`);
      }
    }
  }
});

test('streamed PUT: late invalid base64', async (t) => {
  const text = randomBytes(2 * MiB).toString('base64');
  const broken = `${text.slice(0, 2 * MiB + 2)}!${text.slice(2 * MiB + 3)}`;
  const put = await send(t.context, '/cdmi/default/broken-late.bin', {
    method: 'PUT',
    headers: CDMI_OBJECT,
    body: `{"valuetransferencoding":"base64","value":"${broken}"}`,
  });
  t.is(put.status, 400);
  t.is(put.json.error.details.key, 'base64');

  const read = await send(t.context, '/cdmi/default/broken-late.bin', { headers: CDMI_OBJECT });
  t.is(read.status, 404);
});
