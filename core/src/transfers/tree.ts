import type { MetadataStore } from '../metadata/store.js';
import { COLLECTIONS, spaceTrashUuid, type FileDoc } from '../lfs/model.js';

const PAGE = 500;

/**
 * Yield the regular files at or below `rootUuid`, depth first in name order, skipping
 * the trash. A hard link yields its inode, because replicas belong to the inode.
 */
export async function* regularFilesBelow(store: MetadataStore, rootUuid: string): AsyncGenerator<FileDoc> {
  const root = await store.get<FileDoc>(COLLECTIONS.file, rootUuid);
  if (!root) return;
  yield* visit(store, root.value);
}

async function* visit(store: MetadataStore, doc: FileDoc): AsyncGenerator<FileDoc> {
  if (doc.inodeUuid !== undefined) {
    const inode = await store.get<FileDoc>(COLLECTIONS.file, doc.inodeUuid);
    if (inode?.value.type === 'REG') yield inode.value;
    return;
  }
  if (doc.type === 'REG') {
    yield doc;
    return;
  }
  if (doc.type !== 'DIR') return;

  let startAfter: string | undefined;
  for (;;) {
    const page = await store.listChildren(doc.uuid, { startAfter, limit: PAGE });
    for (const entry of page) {
      if (entry.childId === spaceTrashUuid(doc.spaceId)) continue;
      const child = await store.get<FileDoc>(COLLECTIONS.file, entry.childId);
      if (child) yield* visit(store, child.value);
    }
    if (page.length < PAGE) return;
    startAfter = page[page.length - 1]?.name;
  }
}

/** Uuids of a file and its ancestors up to the space root, the file first. */
export async function selfAndAncestors(store: MetadataStore, uuid: string): Promise<string[]> {
  const chain: string[] = [];
  let current: string | null = uuid;
  while (current !== null && chain.length < 4096) {
    chain.push(current);
    const document: { value: FileDoc } | undefined = await store.get<FileDoc>(COLLECTIONS.file, current);
    current = document?.value.parentUuid ?? null;
  }
  return chain;
}
