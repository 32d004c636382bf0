import test from 'ava';
import { OpError } from '../src/errors.js';
import {
  buildObjectId,
  crc16arc,
  decodeFileId,
  encodeFileId,
  guidString,
  newFileUuid,
  parseObjectId,
} from '../src/ids/file-id.js';

/** Onedata's fixed object id of the root CDMI capabilities container. */
const CDMI_CAPABILITY_ID = '0000000000208CA83030303030303030303030303030303030303030303030303030303030303031';

function badIdentifier(t: import('ava').ExecutionContext, call: () => unknown, label: string): void {
  const error = t.throws(call, undefined, label);
  t.true(OpError.is(error), label);
  t.is((error as OpError).kind, 'badIdentifier', label);
}

test('CRC-16/ARC check value', (t) => {
  // The standard check value of CRC-16/ARC over the ASCII digits 1 to 9.
  t.is(crc16arc(Buffer.from('123456789', 'ascii')), 0xbb3d);
});

test('fixed capability id decodes', (t) => {
  const data = parseObjectId(CDMI_CAPABILITY_ID);
  t.is(data.toString('ascii'), `${'0'.repeat(31)}1`);
});

test('fixed capability id is rebuilt exactly', (t) => {
  t.is(buildObjectId(Buffer.from(`${'0'.repeat(31)}1`, 'ascii')), CDMI_CAPABILITY_ID);
});

test('lower-case hex is accepted', (t) => {
  t.is(parseObjectId(CDMI_CAPABILITY_ID.toLowerCase()).length, 32);
});

test('file id round trip', (t) => {
  const guid = { fileUuid: newFileUuid(), spaceId: 'space-1' };
  const id = encodeFileId(guid);
  t.regex(id, /^[0-9A-F]+$/);
  t.deepEqual(decodeFileId(id), guid);
});

test('share file id round trip', (t) => {
  const guid = { fileUuid: newFileUuid(), spaceId: 'space-1', shareId: 'share-9' };
  t.deepEqual(decodeFileId(encodeFileId(guid)), guid);
});

test('guidString is base64url of guid text', (t) => {
  const guid = { fileUuid: 'abc', spaceId: 's' };
  t.is(Buffer.from(guidString(guid), 'base64url').toString('utf8'), 'guid#abc#s');
});

test('empty data round trip', (t) => {
  const id = buildObjectId(Buffer.alloc(0));
  t.is(id.length, 16);
  t.is(parseObjectId(id).length, 0);
});

test('data longer than 255 bytes is rejected', (t) => {
  t.throws(() => buildObjectId(Buffer.alloc(256)));
});

test('bad CRC is badIdentifier', (t) => {
  const tampered = CDMI_CAPABILITY_ID.slice(0, 12) + '0000' + CDMI_CAPABILITY_ID.slice(16);
  badIdentifier(t, () => parseObjectId(tampered), 'zeroed crc');

  const flippedData = CDMI_CAPABILITY_ID.slice(0, -2) + '32';
  badIdentifier(t, () => parseObjectId(flippedData), 'changed data byte');
});

test('malformed ids are badIdentifier', (t) => {
  const cases: Array<[string, string]> = [
    ['odd hex length', CDMI_CAPABILITY_ID.slice(0, -1)],
    ['not hex', 'XYZ0000000208CA8'],
    ['empty', ''],
    ['truncated header', '00000000002'],
    ['header only, length says 32', CDMI_CAPABILITY_ID.slice(0, 16)],
    ['data cut short', CDMI_CAPABILITY_ID.slice(0, -4)],
    ['extra byte', `${CDMI_CAPABILITY_ID}00`],
    ['non-zero reserved byte', `01${CDMI_CAPABILITY_ID.slice(2)}`],
  ];
  for (const [label, id] of cases) badIdentifier(t, () => parseObjectId(id), label);
});

test('object id that is not a file guid is badIdentifier', (t) => {
  badIdentifier(t, () => decodeFileId(CDMI_CAPABILITY_ID), 'capability id');
  badIdentifier(t, () => decodeFileId(buildObjectId(Buffer.from('guid#only-uuid'))), 'missing space');
  badIdentifier(t, () => decodeFileId(buildObjectId(Buffer.from('guid##space'))), 'empty uuid');
});
