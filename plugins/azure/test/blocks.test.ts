import test from 'ava';
import { StorageError } from '@op-worker/core';
import { blockIdGenerator, BlockStager, placeBlocks, planRewriteHead, planRewriteTail } from '../src/blocks.js';

const nextId = blockIdGenerator();
const ours = (size: number) => ({ name: nextId(), size });

test('layout of own blocks is reusable', (t) => {
  const layout = placeBlocks([ours(4), ours(4), ours(2)], 10);
  t.true(layout.reusable);
  t.deepEqual(layout.blocks.map((block) => [block.start, block.size]), [[0, 4], [4, 4], [8, 2]]);
});

test('layout without reusable blocks', (t) => {
  t.false(placeBlocks([], 10).reusable, 'uploaded whole');
  t.false(placeBlocks([ours(4), { name: 'c2hvcnQ=', size: 6 }], 10).reusable, 'foreign id length');
  t.true(placeBlocks([], 0).reusable, 'empty blob');
});

test('head keeps blocks before the offset', (t) => {
  const layout = placeBlocks([ours(4), ours(4), ours(4)], 12);
  const ids = layout.blocks.map((block) => block.id);

  t.deepEqual(planRewriteHead(layout, 0, 4), { keep: [], spanStart: 0 });
  t.deepEqual(planRewriteHead(layout, 5, 4), { keep: ids.slice(0, 1), spanStart: 4 });
  t.deepEqual(planRewriteHead(layout, 8, 4), { keep: ids.slice(0, 2), spanStart: 8 });
  t.deepEqual(planRewriteHead(layout, 12, 4), { keep: ids, spanStart: 12 });
  t.deepEqual(planRewriteHead(layout, 20, 4), { keep: ids, spanStart: 12 });
});

test('head merges a short last block on append', (t) => {
  const layout = placeBlocks([ours(4), ours(2)], 6);
  t.deepEqual(planRewriteHead(layout, 6, 4), { keep: [layout.blocks[0]!.id], spanStart: 4 });
  t.deepEqual(planRewriteHead(layout, 9, 4), { keep: [layout.blocks[0]!.id], spanStart: 4 });
});

test('tail keeps blocks after the end', (t) => {
  const layout = placeBlocks([ours(4), ours(4), ours(4)], 12);
  const ids = layout.blocks.map((block) => block.id);

  t.deepEqual(planRewriteTail(layout, 4), { spanEnd: 4, keep: ids.slice(1) });
  t.deepEqual(planRewriteTail(layout, 5), { spanEnd: 8, keep: ids.slice(2) });
  t.deepEqual(planRewriteTail(layout, 11), { spanEnd: 12, keep: [] });
  t.deepEqual(planRewriteTail(layout, 15), { spanEnd: 15, keep: [] });
});

test('rewrite of an unreusable layout spans the blob', (t) => {
  const layout = placeBlocks([], 10);
  t.deepEqual(planRewriteHead(layout, 5, 4), { keep: [], spanStart: 0 });
  t.deepEqual(planRewriteTail(layout, 6), { spanEnd: 10, keep: [] });
});

test('stager cuts exact blocks', async (t) => {
  const staged: Array<[string, string]> = [];
  const stager = new BlockStager(async (id, block) => void staged.push([id, block.toString()]), 4, 2);

  for (const piece of ['ab', 'cdefghi', '', 'jk']) await stager.push(Buffer.from(piece));
  const ids = await stager.finish();

  t.deepEqual(staged.map(([, block]) => block), ['abcd', 'efgh', 'ijk']);
  t.deepEqual(ids, staged.map(([id]) => id));
  t.is(new Set(ids.map((id) => id.length)).size, 1);
});

test('stager reports a staging failure', async (t) => {
  const stager = new BlockStager(async () => {
    throw new StorageError('Unavailable', 'gone');
  }, 2, 1);

  await stager.push(Buffer.from('ab')).catch(() => undefined);
  const error = await t.throwsAsync(async () => {
    await stager.push(Buffer.from('cd'));
    await stager.finish();
  });
  t.is((error as StorageError).kind, 'Unavailable');
});

test('stager stops at the block limit', async (t) => {
  const stager = new BlockStager(async () => undefined, 2, 1, 3);

  const error = await t.throwsAsync(stager.push(Buffer.alloc(8)));

  t.is((error as StorageError).kind, 'Unsupported');
  t.true(error!.message.includes('blockSize'));
});
