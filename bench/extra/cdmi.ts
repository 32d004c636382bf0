/**
 * CDMI data-object throughput next to the REST API, on one worker and one object size.
 * The object goes up and comes back three ways: `/cdmi/<space>/<name>` as a CDMI JSON
 * object with a base64 `value`, the same path with a plain body, and the REST
 * `.../content` path. The three ways run in an order that rotates every round. Throughput counts object bytes, not
 * wire bytes, so base64's third more on the wire counts against CDMI JSON.
 *
 *   npx tsc -b bench/tsconfig.extra.json && node bench/dist/extra/cdmi.js [--mib 1024] [--rounds 2] [--update BENCHMARKS.md]
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { startWorkerProcess, type WorkerProcess } from '@op-worker/integration-tests/dist/src/servers/worker.js';
import { benchFolder, sizeOptions, expectStatus, fileStream, fixed, load1, median, MiB, rate, REST, timedDownload, timedUpload, updateSection, writeFixture } from './common.js';

const SECTION_START = '<!-- cdmi-benchmark:start (written by bench/extra/cdmi.ts) -->';
const SECTION_END = '<!-- cdmi-benchmark:end -->';

const CDMI_VERSION = { 'X-CDMI-Specification-Version': '1.1.1' };

type Way = 'rest' | 'cdmi-plain' | 'cdmi-json';
const WAYS: Way[] = ['rest', 'cdmi-plain', 'cdmi-json'];

interface Sample {
  round: number;
  way: Way;
  put: number;
  get: number;
  load: number;
}

async function main(): Promise<void> {
  const { size, rounds, update } = sizeOptions({ mib: 1024, rounds: 2 });
  const root = await benchFolder('cdmi');
  let worker: WorkerProcess | undefined;
  const loadAtStart = load1();

  try {
    const fixture = path.join(root, 'fixture.bin');
    await writeFixture(fixture, size);
    worker = await startWorkerProcess(path.join(root, 'data'));
    const spaceDirId = await defaultSpaceDir(worker);

    const samples: Sample[] = [];
    for (let round = 1; round <= rounds; round++) {
      const order = WAYS.map((_, i) => WAYS[(i + round - 1) % WAYS.length]!);
      for (const way of order) {
        const sample = await pass(worker, spaceDirId, way, fixture, size, round);
        samples.push(sample);
        console.log(`round ${round} ${way}: PUT ${fixed(sample.put)} GB/s, GET ${fixed(sample.get)} GB/s, load ${sample.load}`);
      }
    }

    const section = report(samples, size, rounds, loadAtStart, load1());
    console.log(section);
    if (update !== undefined) updateSection(update, SECTION_START, SECTION_END, section);
  } finally {
    await worker?.stop();
    await rm(root, { recursive: true, force: true });
  }
}

async function defaultSpaceDir(worker: WorkerProcess): Promise<string> {
  const headers = { 'X-Auth-Token': worker.token };
  const spaces = (await (await fetch(`${worker.url}${REST}/spaces`, { headers })).json()) as Array<{ spaceId: string; name: string }>;
  const space = spaces.find((entry) => entry.name === 'default');
  if (space === undefined) throw new Error('the worker created no default space');
  return ((await (await fetch(`${worker.url}${REST}/spaces/${space.spaceId}`, { headers })).json()) as { dirId: string }).dirId;
}

/** Put and get the whole object one way, then delete it so that the next way starts from an empty space. */
async function pass(worker: WorkerProcess, spaceDirId: string, way: Way, fixture: string, size: number, round: number): Promise<Sample> {
  const load = load1();
  const auth = { 'X-Auth-Token': worker.token };
  const name = `cdmi-bench-${round}-${way}.bin`;
  const cdmiUrl = `${worker.url}/cdmi/default/${name}`;

  let putUrl = cdmiUrl;
  let putHeaders: Record<string, string> = { ...auth, 'Content-Type': 'application/octet-stream' };
  let body: Readable = fileStream(fixture);
  let wireSize = size;
  if (way === 'rest') putUrl = `${worker.url}${REST}/data/${spaceDirId}/path/${name}`;
  if (way === 'cdmi-json') {
    putHeaders = { ...auth, ...CDMI_VERSION, 'Content-Type': 'application/cdmi-object', Accept: 'application/cdmi-object' };
    const framed = cdmiJsonBody(fixture, size);
    body = framed.stream;
    wireSize = framed.length;
  }
  const put = await timedUpload(putUrl, 'PUT', putHeaders, body, wireSize);
  expectStatus(`${way} PUT`, put.status, 201, put.body);

  const fileId = await lookup(worker, name);
  const getUrl = way === 'rest' ? `${worker.url}${REST}/data/${fileId}/content` : cdmiUrl;
  const getHeaders = way === 'cdmi-json' ? { ...auth, ...CDMI_VERSION, Accept: 'application/cdmi-object' } : auth;
  const get = await timedDownload(getUrl, getHeaders);
  expectStatus(`${way} GET`, get.status, 200);
  const least = way === 'cdmi-json' ? (size / 3) * 4 : size;
  if (get.bytes < least) throw new Error(`${way} GET gave ${get.bytes} bytes, expected at least ${least}`);

  const removed = await fetch(`${worker.url}${REST}/data/${fileId}`, { method: 'DELETE', headers: auth });
  expectStatus(`${way} DELETE`, removed.status, 204, await removed.text());
  return { round, way, put: rate({ bytes: size, seconds: put.seconds }), get: rate({ bytes: size, seconds: get.seconds }), load };
}

async function lookup(worker: WorkerProcess, name: string): Promise<string> {
  const response = await fetch(`${worker.url}${REST}/lookup-file-id/default/${name}`, { method: 'POST', headers: { 'X-Auth-Token': worker.token } });
  const text = await response.text();
  expectStatus(`lookup of ${name}`, response.status, 200, text);
  return (JSON.parse(text) as { fileId: string }).fileId;
}

/** Build a CDMI object body whose `value` is the file in base64, encoded while it streams. */
function cdmiJsonBody(fixture: string, size: number): { stream: Readable; length: number } {
  const head = Buffer.from('{"mimetype":"application/octet-stream","valuetransferencoding":"base64","value":"');
  const tail = Buffer.from('"}');
  let carry = Buffer.alloc(0);
  const encoder = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      const joined = Buffer.concat([carry, chunk]);
      const whole = joined.length - (joined.length % 3);
      carry = joined.subarray(whole);
      done(null, Buffer.from(joined.subarray(0, whole).toString('base64')));
    },
    flush(done) {
      done(null, Buffer.concat([Buffer.from(carry.toString('base64')), tail]));
    },
  });
  encoder.push(head);
  fileStream(fixture).pipe(encoder);
  return { stream: encoder, length: head.length + Math.ceil(size / 3) * 4 + tail.length };
}

function report(samples: Sample[], size: number, rounds: number, loadStart: number, loadEnd: number): string {
  const of = (way: Way) => samples.filter((s) => s.way === way);
  const ratio = (way: Way, key: 'put' | 'get') => median(of(way).map((s) => s[key] / of('rest').find((r) => r.round === s.round)![key]));
  const lines = [
    '## CDMI data objects next to the REST API',
    '',
    `Run of ${new Date().toISOString()}, command \`node bench/dist/extra/cdmi.js --mib ${size / MiB} --rounds ${rounds}\`.`,
    `One object of ${size / MiB} MiB of random bytes on the embedded default (SQLite, POSIX storage), ${rounds} rounds, the three ways in a rotating order.`,
    `1-minute load average: ${loadStart} at the start, ${loadEnd} at the end (2 CPUs); absolute figures are noisy, read the ratios.`,
    'REST: `PUT /data/{spaceDirId}/path/<name>`, `GET /data/{id}/content`. CDMI plain: `PUT`/`GET /cdmi/default/<name>` with a non-CDMI body.',
    'CDMI JSON: `application/cdmi-object` with `valuetransferencoding: base64`, encoded while sent and read whole but not decoded by the client.',
    'GB/s counts object bytes; the CDMI JSON body is a third larger on the wire.',
    '',
    '| Way | PUT (GB/s) | PUT ÷ REST | GET (GB/s) | GET ÷ REST |',
    '|---|---|---|---|---|',
  ];
  for (const way of WAYS) {
    const rows = of(way);
    const putRatio = way === 'rest' ? '–' : `${fixed(ratio(way, 'put'))}×`;
    const getRatio = way === 'rest' ? '–' : `${fixed(ratio(way, 'get'))}×`;
    lines.push(`| ${way} | ${fixed(median(rows.map((s) => s.put)))} | ${putRatio} | ${fixed(median(rows.map((s) => s.get)))} | ${getRatio} |`);
  }
  lines.push('', 'Every pass (GB/s; load is the 1-minute load average when the pass began):', '', '| Round | Way | PUT | GET | load |', '|---|---|---|---|---|');
  for (const s of samples) lines.push(`| ${s.round} | ${s.way} | ${fixed(s.put)} | ${fixed(s.get)} | ${s.load} |`);
  return lines.join('\n');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
