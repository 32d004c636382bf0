import 'reflect-metadata';
import { createHash } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import anyTest, { type TestFn } from 'ava';
import { decodeBase64Stream } from '../src/cdmi/encoding.js';
import { JsonObjectReader } from '../src/cdmi/json-stream.js';
import { startTestWorker, type TestWorker } from './helpers.js';

/**
 * Large CDMI values go through the worker with flat memory: a CDMI JSON PUT whose
 * base64 `value` is parsed and decoded as a stream, and a CDMI JSON GET that encodes it
 * on the fly. Client and server share this process, so the client streams too and
 * the live memory of the whole process is what the assertions bound.
 */

const test = anyTest as TestFn<TestWorker>;

/** Payload size; big enough that a buffered body (several copies as string and Buffer) would show. */
const SIZE = Number(process.env['CDMI_STREAM_TEST_BYTES'] ?? 128 * 1024 * 1024);
/** A multiple of 3 (so base64 chunks join without padding) and of 251 (so every chunk contains the same bytes). */
const CHUNK = 3 * 251 * 1393;
const PATTERN = Buffer.from(Array.from({ length: CHUNK }, (_, index) => index % 251));
const PATTERN_BASE64 = PATTERN.toString('base64');
/** Largest growth of live memory allowed while one request runs: half the payload, where a buffered value would need more than the payload. */
const MAX_GROWTH = SIZE / 2;

test.before(async (t) => {
  t.context = await startTestWorker();
});

test.after.always(async (t) => {
  await t.context.close();
});

/** Deterministic content: byte i is i mod 251, in chunks of `CHUNK` bytes. */
function* content(): Generator<Buffer> {
  for (let offset = 0; offset < SIZE; offset += CHUNK) yield PATTERN.subarray(0, Math.min(CHUNK, SIZE - offset));
}

function* contentBase64(): Generator<string> {
  for (const chunk of content()) yield chunk.length === CHUNK ? PATTERN_BASE64 : chunk.toString('base64');
}

function expectedDigest(): string {
  const hash = createHash('sha256');
  for (const chunk of content()) hash.update(chunk);
  return hash.digest('hex');
}

// A full collection before each sample makes the samples count live memory, not garbage that V8 has yet to collect.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

/** Live memory: the JavaScript heap in use plus Buffer memory, in bytes, right after a full collection. */
function liveBytes(): number {
  collectGarbage();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

/** Sample live memory every 100 ms while `work` runs; returns its peak growth in bytes. */
async function peakGrowth(work: () => Promise<void>): Promise<number> {
  const baseline = liveBytes();
  let peak = baseline;
  const timer = setInterval(() => {
    peak = Math.max(peak, liveBytes());
  }, 100);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return peak - baseline;
}

function open(worker: TestWorker, method: string, path: string, headers: Record<string, string>, body?: () => AsyncIterable<Buffer | string>): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      { host: '127.0.0.1', port: worker.port, path, method, headers: { ...headers, 'X-Auth-Token': worker.token }, agent: false },
      resolve,
    );
    outgoing.on('error', reject);
    if (body === undefined) {
      outgoing.end();
      return;
    }
    void (async () => {
      for await (const chunk of body()) {
        if (!outgoing.write(chunk)) await new Promise((drain) => outgoing.once('drain', drain));
      }
      outgoing.end();
    })().catch(reject);
  });
}

test.serial('large base64 CDMI PUT and GET with flat memory', async (t) => {
  const digest = expectedDigest();
  const prefix = '{"mimetype":"application/octet-stream","valuetransferencoding":"base64","value":"';
  const suffix = '","metadata":{"size":"large"}}';
  const base64Length = 4 * Math.ceil(SIZE / 3);
  const headers = {
    'X-CDMI-Specification-Version': '1.1.1',
    'Content-Type': 'application/cdmi-object',
    'Content-Length': String(prefix.length + base64Length + suffix.length),
  };

  // A small request first, so that the heap growth of a worker's first requests is not measured.
  const warmup = await open(t.context, 'PUT', '/cdmi/default/warmup.bin', { ...headers, 'Content-Length': '2' }, async function* () {
    yield '{}';
  });
  warmup.resume();
  t.is(warmup.statusCode, 201);

  let status = 0;
  const putGrowth = await peakGrowth(async () => {
    const response = await open(t.context, 'PUT', '/cdmi/default/large.bin', headers, async function* () {
      yield prefix;
      yield* contentBase64();
      yield suffix;
    });
    status = response.statusCode ?? 0;
    response.resume();
    await new Promise((done) => response.on('end', done));
  });
  t.is(status, 201);
  t.log(`PUT of ${SIZE} bytes: live memory grew by ${(putGrowth / 1048576).toFixed(1)} MiB`);
  t.true(putGrowth < MAX_GROWTH, `PUT grew live memory by ${putGrowth} bytes for a ${SIZE}-byte value`);

  let readDigest = '';
  let metadataSize: unknown;
  const getGrowth = await peakGrowth(async () => {
    const response = await open(t.context, 'GET', '/cdmi/default/large.bin', { 'X-CDMI-Specification-Version': '1.1.1' });
    t.is(response.statusCode, 200);
    const reader = new JsonObjectReader(response, { streamedField: 'value', maxMemberBytes: 1024 * 1024 });
    const hash = createHash('sha256');
    for (let member = await reader.nextMember(); member !== undefined; member = await reader.nextMember()) {
      if (member.kind === 'stream') for await (const chunk of decodeBase64Stream(member.bytes)) hash.update(chunk);
      else if (member.name === 'metadata') metadataSize = (member.value as Record<string, unknown>)['size'];
    }
    readDigest = hash.digest('hex');
  });
  t.is(readDigest, digest);
  t.is(metadataSize, 'large');
  t.log(`GET of ${SIZE} bytes: live memory grew by ${(getGrowth / 1048576).toFixed(1)} MiB`);
  t.true(getGrowth < MAX_GROWTH, `GET grew live memory by ${getGrowth} bytes for a ${SIZE}-byte value`);

  const raw = await open(t.context, 'GET', '/cdmi/default/large.bin', {});
  const rawHash = createHash('sha256');
  for await (const chunk of raw as AsyncIterable<Buffer>) rawHash.update(chunk);
  t.is(rawHash.digest('hex'), digest);
});

test.serial('large utf-8 CDMI PUT with escapes', async (t) => {
  const line = 'a "quoted" line\\ with é and 😀\n';
  const repeats = Math.ceil((4 * 1024 * 1024) / Buffer.byteLength(line));
  const escaped = JSON.stringify(line).slice(1, -1);
  const prefix = '{"value":"';
  const suffix = '"}';
  const headers = {
    'X-CDMI-Specification-Version': '1.1.1',
    'Content-Type': 'application/cdmi-object',
    'Content-Length': String(Buffer.byteLength(prefix) + Buffer.byteLength(escaped) * repeats + suffix.length),
  };
  const response = await open(t.context, 'PUT', '/cdmi/default/large.txt', headers, async function* () {
    yield prefix;
    // Chunks of 7 lines never align with escapes, so escapes are split across chunks.
    for (let index = 0; index < repeats; index += 7) yield escaped.repeat(Math.min(7, repeats - index));
    yield suffix;
  });
  response.resume();
  t.is(response.statusCode, 201);

  const raw = await open(t.context, 'GET', '/cdmi/default/large.txt', {});
  const expected = createHash('sha256').update(line.repeat(repeats)).digest('hex');
  const hash = createHash('sha256');
  for await (const chunk of raw as AsyncIterable<Buffer>) hash.update(chunk);
  t.is(hash.digest('hex'), expected);
});

test.serial('streamed body with bad base64 leaves no file', async (t) => {
  const prefix = '{"valuetransferencoding":"base64","value":"';
  const body = 'QUJD'.repeat(400_000) + '#$%=' + '"}';
  const response = await open(
    t.context,
    'PUT',
    '/cdmi/default/broken.bin',
    { 'X-CDMI-Specification-Version': '1.1.1', 'Content-Type': 'application/cdmi-object', 'Content-Length': String(prefix.length + body.length) },
    async function* () {
      yield prefix;
      yield body;
    },
  );
  const chunks: Buffer[] = [];
  for await (const chunk of response as AsyncIterable<Buffer>) chunks.push(chunk);
  t.is(response.statusCode, 400);
  t.is(JSON.parse(Buffer.concat(chunks).toString()).error.details.key, 'base64');

  const after = await open(t.context, 'GET', '/cdmi/default/broken.bin', { 'X-CDMI-Specification-Version': '1.1.1' });
  after.resume();
  t.is(after.statusCode, 404);
});
