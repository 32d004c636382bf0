/**
 * Capabilities a storage helper declares. They are data: the dispatcher checks them
 * before calling a plugin, so a plugin never has to throw "not supported".
 */
export interface Capabilities {
  /** `stat` and `list` work. */
  stat: boolean;
  list: boolean;
  /** Listing can resume after a given name (keyset pagination). */
  list_with_start_after: boolean;
  read: boolean;
  /** `read` accepts an offset and a length. */
  read_with_range: boolean;
  write: boolean;
  /** `write` accepts an offset and keeps the bytes outside the written range. */
  write_at_offset: boolean;
  /**
   * A `write` with an offset rebuilds the whole object on the storage, so its cost grows
   * with the object's size rather than with the bytes written. Callers that have a whole
   * file to store should send it in one `write` without an offset.
   */
  write_at_offset_rewrites_object: boolean;
  /** Largest object one `write` may create, in bytes; 0 means no limit. */
  write_multi_max_size: number;
  truncate: boolean;
  delete: boolean;
  mkdir: boolean;
  /** Directories exist on the storage (false for flat object stores). */
  directories: boolean;
  rename: boolean;
  copy: boolean;
  xattrs: boolean;
  chmod: boolean;
  symlink: boolean;
  hardlink: boolean;
  /** `write` can make the data durable (fsync or equivalent) before it returns. */
  durable_write: boolean;
}

export type CapabilityName = keyof Capabilities;

/** Capabilities of a helper that can do nothing; plugins spread their own on top. */
export const NO_CAPABILITIES: Readonly<Capabilities> = Object.freeze({
  stat: false,
  list: false,
  list_with_start_after: false,
  read: false,
  read_with_range: false,
  write: false,
  write_at_offset: false,
  write_at_offset_rewrites_object: false,
  write_multi_max_size: 0,
  truncate: false,
  delete: false,
  mkdir: false,
  directories: false,
  rename: false,
  copy: false,
  xattrs: false,
  chmod: false,
  symlink: false,
  hardlink: false,
  durable_write: false,
});
