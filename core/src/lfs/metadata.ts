import { OpError } from '../errors.js';
import { updateDocument, upsertDocument } from '../metadata/cas.js';
import { COLLECTIONS, type FileDoc, type XattrsDoc } from './model.js';
import type { FileAttributes, Identity, JsonValue } from './types.js';
import { LfsRename } from './rename.js';
import { validMode, assertXattrName } from './base.js';
import type { FileAccess } from '../authz/access.js';
import { ACL_XATTR_NAME } from '../authz/acl.js';
import { resolveAclPrincipals } from '../authz/acl-principals.js';

/** Changing the ACL xattr needs write-ACL access; changing any other xattr needs write-metadata access. */
function metadataAccess(names: readonly string[]): FileAccess[] {
  const accesses: FileAccess[] = [];
  if (names.includes(ACL_XATTR_NAME)) accesses.push('write_acl');
  if (names.some((name) => name !== ACL_XATTR_NAME) || names.length === 0) accesses.push('write_metadata');
  return accesses;
}

/** Permission bits, extended attributes, JSON and RDF metadata. */
export abstract class LfsMetadata extends LfsRename {
  async setMode(who: Identity, fileId: string, mode: number): Promise<FileAttributes> {
    const file = await this.resolveFor(who, fileId, 'write_attributes');
    const now = this.clock.now();
    const updated = await updateDocument<FileDoc>(this.store, COLLECTIONS.file, file.doc.uuid, (value) => {
      value.mode = validMode(mode);
      value.ctimeMs = now;
    });
    await this.recordChange(updated.value, false);
    return this.attributes(updated.value);
  }

  async getXattrs(who: Identity, fileId: string): Promise<Record<string, JsonValue>> {
    const { doc } = await this.resolveFor(who, fileId, 'read_metadata');
    return (await this.store.get<XattrsDoc>(COLLECTIONS.xattrs, doc.uuid))?.value ?? {};
  }

  /** An ACL (`cdmi_acl`) is checked and its principals resolved to ids before it is stored; see `resolveAclPrincipals`. */
  async setXattrs(who: Identity, fileId: string, values: Record<string, JsonValue>): Promise<void> {
    const { doc } = await this.resolveFor(who, fileId, ...metadataAccess(Object.keys(values)));
    for (const name of Object.keys(values)) assertXattrName(name);
    const stored = ACL_XATTR_NAME in values
      ? { ...values, [ACL_XATTR_NAME]: (await resolveAclPrincipals(this.store, this.clock, values[ACL_XATTR_NAME])) as unknown as JsonValue }
      : values;
    await upsertDocument<XattrsDoc>(this.store, COLLECTIONS.xattrs, doc.uuid, () => ({}), (current) => ({ ...current, ...stored }));
    await this.touchMetadata(doc);
  }

  async removeXattrs(who: Identity, fileId: string, names: readonly string[]): Promise<void> {
    const { doc } = await this.resolveFor(who, fileId, ...metadataAccess(names));
    await upsertDocument<XattrsDoc>(this.store, COLLECTIONS.xattrs, doc.uuid, () => ({}), (current) => {
      for (const name of names) delete current[name];
    });
    await this.touchMetadata(doc);
  }

  async getJsonMetadata(who: Identity, fileId: string): Promise<JsonValue> {
    const { doc } = await this.resolveFor(who, fileId, 'read_metadata');
    const stored = await this.store.get<{ value: JsonValue }>(COLLECTIONS.json, doc.uuid);
    if (!stored) throw OpError.notFound(`JSON metadata of "${doc.name}"`);
    return stored.value.value;
  }

  async setJsonMetadata(who: Identity, fileId: string, value: JsonValue): Promise<void> {
    const { doc } = await this.resolveFor(who, fileId, 'write_metadata');
    await this.store.put(COLLECTIONS.json, doc.uuid, { value });
    await this.touchMetadata(doc);
  }

  async removeJsonMetadata(who: Identity, fileId: string): Promise<void> {
    const { doc } = await this.resolveFor(who, fileId, 'write_metadata');
    await this.store.delete(COLLECTIONS.json, doc.uuid);
    await this.touchMetadata(doc);
  }

  async getRdfMetadata(who: Identity, fileId: string): Promise<string> {
    const { doc } = await this.resolveFor(who, fileId, 'read_metadata');
    const stored = await this.store.get<{ value: string }>(COLLECTIONS.rdf, doc.uuid);
    if (!stored) throw OpError.notFound(`RDF metadata of "${doc.name}"`);
    return stored.value.value;
  }

  async setRdfMetadata(who: Identity, fileId: string, value: string): Promise<void> {
    const { doc } = await this.resolveFor(who, fileId, 'write_metadata');
    await this.store.put(COLLECTIONS.rdf, doc.uuid, { value });
    await this.touchMetadata(doc);
  }

  async removeRdfMetadata(who: Identity, fileId: string): Promise<void> {
    const { doc } = await this.resolveFor(who, fileId, 'write_metadata');
    await this.store.delete(COLLECTIONS.rdf, doc.uuid);
    await this.touchMetadata(doc);
  }
}
