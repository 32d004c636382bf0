/**
 * TAR entry headers in the POSIX ustar format, preceded by a pax extended header when a
 * name or link target is longer than its ustar field or a size does not fit 11 octal
 * digits. The encoding is a pure function of the header fields, so an unchanged
 * directory always gives the same archive bytes.
 */

export const TAR_BLOCK = 512;

export interface TarHeader {
  /** Entry path inside the archive; a directory's ends with `/`. */
  name: string;
  type: 'file' | 'directory' | 'symlink';
  /** POSIX mode; only the permission bits (0o7777) are written. */
  mode: number;
  /** Modification time in seconds since the epoch. */
  mtime: number;
  /** Data length in bytes; 0 for directories and symlinks. */
  size: number;
  linkname?: string;
}

const TYPE_FLAGS: Record<TarHeader['type'], string> = { file: '0', directory: '5', symlink: '2' };

/** Largest size that fits the 12-byte ustar size field as 11 octal digits. */
const MAX_USTAR_SIZE = 0o77777777777;

/** Return the number of zero bytes that follow `size` bytes of data to the next block boundary. */
export function tarPadding(size: number): number {
  const rest = size % TAR_BLOCK;
  return rest === 0 ? 0 : TAR_BLOCK - rest;
}

/** Encode an entry's header blocks: a pax header and its records when needed, then the ustar header. */
export function encodeTarHeader(header: TarHeader): Buffer {
  const name = Buffer.from(header.name, 'utf8');
  const linkname = Buffer.from(header.linkname ?? '', 'utf8');
  const records: Array<[string, string]> = [];
  if (name.length > 100) records.push(['path', header.name]);
  if (linkname.length > 100) records.push(['linkpath', header.linkname ?? '']);
  if (header.size > MAX_USTAR_SIZE) records.push(['size', String(header.size)]);

  const ustar = ustarBlock({
    name: truncateUtf8(name, 100),
    typeflag: TYPE_FLAGS[header.type],
    mode: header.mode & 0o7777,
    mtime: header.mtime,
    size: header.size > MAX_USTAR_SIZE ? 0 : header.size,
    linkname: truncateUtf8(linkname, 100),
  });
  if (records.length === 0) return ustar;

  const pax = paxRecords(records);
  const paxHeader = ustarBlock({ name: truncateUtf8(Buffer.from(`PaxHeader/${header.name}`, 'utf8'), 100), typeflag: 'x', mode: 0o644, mtime: header.mtime, size: pax.length, linkname: Buffer.alloc(0) });
  return Buffer.concat([paxHeader, pax, Buffer.alloc(tarPadding(pax.length)), ustar]);
}

interface UstarFields {
  name: Buffer;
  typeflag: string;
  mode: number;
  mtime: number;
  size: number;
  linkname: Buffer;
}

/** Build one 512-byte ustar header block; owner ids are 0 and owner names empty. */
function ustarBlock(fields: UstarFields): Buffer {
  const block = Buffer.alloc(TAR_BLOCK);
  fields.name.copy(block, 0);
  block.write(octal(fields.mode, 8), 100, 'ascii');
  block.write(octal(0, 8), 108, 'ascii');
  block.write(octal(0, 8), 116, 'ascii');
  block.write(octal(fields.size, 12), 124, 'ascii');
  block.write(octal(Math.max(0, Math.floor(fields.mtime)), 12), 136, 'ascii');
  block.write(fields.typeflag, 156, 'ascii');
  fields.linkname.copy(block, 157);
  block.write('ustar\u000000', 257, 'ascii');

  // The checksum is the byte sum with its own field read as eight spaces.
  block.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 'ascii');
  return block;
}

/** Format `value` as zero-padded octal digits and a NUL, filling a field of `width` bytes. */
function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\u0000`;
}

/** Encode pax records `<length> <key>=<value>\n`, where the length counts the whole record. */
function paxRecords(records: ReadonlyArray<[string, string]>): Buffer {
  const encoded = records.map(([key, value]) => {
    const body = Buffer.byteLength(` ${key}=${value}\n`, 'utf8');
    let length = body + String(body).length;
    if (String(length).length !== String(body).length) length = body + String(length).length;
    return `${length} ${key}=${value}\n`;
  });
  return Buffer.from(encoded.join(''), 'utf8');
}

/** Cut UTF-8 bytes to at most `limit` bytes without splitting a character. */
function truncateUtf8(bytes: Buffer, limit: number): Buffer {
  if (bytes.length <= limit) return bytes;
  let end = limit;
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end -= 1;
  return bytes.subarray(0, end);
}
