/**
 * Manual check, not part of `npm test`: an offset write into the middle of a 1 GiB blob
 * on a private Azurite, verified by sha256 of the ranges before and after the written
 * bytes, with the client's peak RSS. Run after building, from plugins/azure:
 * `node dist/test/check-large-offset-write.js`.
 */
import { randomBytes } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { AzuriteServer } from './azurite.js';
import { collect, generatedStream, sha256Of } from './streams.js';

const MIB = 1024 * 1024;
const SIZE = 1024 * MIB;
const SEED = 3;

const server = await AzuriteServer.start({ own: true });
let peakRss = 0;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 50);

try {
  const helper = await server.createHelper('large');

  let started = Date.now();
  await helper.write('gib', generatedStream(SIZE, SEED));
  console.log(`whole write of 1 GiB: ${seconds(started)} s`);

  const data = randomBytes(3 * MIB);
  const offset = 512 * MIB + 12345;
  const end = offset + data.length;
  started = Date.now();
  const result = await helper.write('gib', Readable.from([data]), { offset });
  console.log(`3 MiB offset write into the middle: ${seconds(started)} s, result ${JSON.stringify(result)}`);

  const before = await sha256Of(await helper.read('gib', { offset: 0, length: offset }));
  const written = await collect(await helper.read('gib', { offset, length: data.length }));
  const after = await sha256Of(await helper.read('gib', { offset: end }));
  console.log(`bytes before kept: ${before === (await sha256Of(generatedStream(SIZE, SEED).pipe(slice(0, offset))))}`);
  console.log(`new bytes read back: ${written.equals(data)}`);
  console.log(`bytes after kept: ${after === (await sha256Of(generatedStream(SIZE, SEED).pipe(slice(end, SIZE))))}`);
  console.log(`size after: ${(await helper.stat('gib')).size}`);
  console.log(`peak RSS of the client process: ${Math.round(peakRss / MIB)} MiB`);
} finally {
  clearInterval(sampler);
  await server.stop();
}

function seconds(since: number): string {
  return ((Date.now() - since) / 1000).toFixed(2);
}

/** Keep only the stream's bytes `[start, end)`. */
function slice(start: number, end: number): Transform {
  let position = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      const from = Math.max(start - position, 0);
      const to = Math.min(end - position, chunk.length);
      position += chunk.length;
      done(null, from < to ? chunk.subarray(from, to) : undefined);
    },
  });
}
