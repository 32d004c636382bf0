import { Readable } from 'node:stream';
import test from 'ava';
import { OpError } from '../src/errors.js';
import { StitchedStream } from '../src/lfs/stitch.js';
import { planRangePieces, type RangePiece } from '../src/transfers/blocks.js';

const CONTENT = Buffer.from('0123456789abcdefghij');

/** Read a piece's bytes from CONTENT in small chunks, as a storage read would stream them. */
function openFromContent(piece: RangePiece): Promise<Readable> {
  const bytes = CONTENT.subarray(piece.offset, piece.offset + piece.length);
  const chunks: Buffer[] = [];
  for (let start = 0; start < bytes.length; start += 3) chunks.push(bytes.subarray(start, start + 3));
  return Promise.resolve(Readable.from(chunks));
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

test('one holder of the whole range serves it alone', (t) => {
  const plan = planRangePieces(
    [
      { storageId: 'a', blocks: [[0, 5]] },
      { storageId: 'b', blocks: [[0, 20]] },
      { storageId: 'c', blocks: [[0, 20]] },
    ],
    2,
    10,
  );
  t.deepEqual(plan, { pieces: [{ storageId: 'b', offset: 2, length: 10 }] });
});

test('range split over two holders', (t) => {
  const plan = planRangePieces(
    [
      { storageId: 'a', blocks: [[0, 8]] },
      { storageId: 'b', blocks: [[6, 14]] },
    ],
    0,
    20,
  );
  t.deepEqual(plan.pieces, [
    { storageId: 'a', offset: 0, length: 8 },
    { storageId: 'b', offset: 8, length: 12 },
  ]);
  t.is(plan.uncoveredAt, undefined);
});

test('pieces prefer the block reaching furthest', (t) => {
  const plan = planRangePieces(
    [
      { storageId: 'a', blocks: [[0, 4], [10, 2]] },
      { storageId: 'b', blocks: [[2, 12]] },
      { storageId: 'c', blocks: [[12, 8]] },
    ],
    0,
    20,
  );
  t.deepEqual(plan.pieces, [
    { storageId: 'a', offset: 0, length: 4 },
    { storageId: 'b', offset: 4, length: 10 },
    { storageId: 'c', offset: 14, length: 6 },
  ]);
});

test('uncovered byte is reported', (t) => {
  const plan = planRangePieces(
    [
      { storageId: 'a', blocks: [[0, 5]] },
      { storageId: 'b', blocks: [[7, 13]] },
    ],
    0,
    20,
  );
  t.is(plan.uncoveredAt, 5);
  t.deepEqual(planRangePieces([], 3, 4).uncoveredAt, 3);
  t.deepEqual(planRangePieces([], 3, 0), { pieces: [] });
});

test('stitched stream joins pieces in order', async (t) => {
  const pieces: RangePiece[] = [
    { storageId: 'a', offset: 1, length: 7 },
    { storageId: 'b', offset: 8, length: 5 },
    { storageId: 'a', offset: 13, length: 6 },
  ];
  const opened: string[] = [];
  const stream = new StitchedStream(pieces, (piece) => {
    opened.push(`${piece.storageId}@${piece.offset}`);
    return openFromContent(piece);
  });
  t.is((await collect(stream)).toString(), CONTENT.subarray(1, 19).toString());
  t.deepEqual(opened, ['a@1', 'b@8', 'a@13']);
});

test('stitched stream fails on a short piece', async (t) => {
  const pieces: RangePiece[] = [
    { storageId: 'a', offset: 0, length: 4 },
    { storageId: 'b', offset: 4, length: 6 },
  ];
  const stream = new StitchedStream(pieces, (piece) => openFromContent(piece.storageId === 'b' ? { ...piece, length: 2 } : piece));
  const error = await t.throwsAsync(collect(stream));
  t.true(OpError.is(error));
  t.regex(error?.message ?? '', /storage "b" returned 2 bytes for the 6 bytes at offset 4/);
});

test('stitched stream passes an open failure on', async (t) => {
  const stream = new StitchedStream([{ storageId: 'a', offset: 0, length: 4 }], () => Promise.reject(new Error('storage a is down')));
  const error = await t.throwsAsync(collect(stream));
  t.is(error?.message, 'storage a is down');
});

test('destroying a stitched stream destroys the open piece', async (t) => {
  const piece = new Readable({ read() {} });
  piece.push(Buffer.from('ab'));
  const stream = new StitchedStream([{ storageId: 'a', offset: 0, length: 10 }], () => Promise.resolve(piece));
  const first = await new Promise<Buffer>((resolve) => stream.once('data', resolve));
  t.is(first.toString(), 'ab');
  stream.destroy();
  await new Promise((resolve) => piece.once('close', resolve));
  t.true(piece.destroyed);
});
