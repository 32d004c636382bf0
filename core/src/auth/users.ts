import { randomBytes } from 'node:crypto';
import { inject, injectable } from 'inversify';
import { OpError } from '../errors.js';
import type { MetadataStore } from '../metadata/store.js';
import { TYPES, type Clock } from '../tokens.js';

/** A user known to this provider. */
export interface UserRecord {
  /** 32 lower-case hex characters. */
  id: string;
  name: string;
  /** Provider administrators may manage storages, spaces and users. */
  isAdmin: boolean;
  /** Milliseconds since the epoch. */
  created: number;
}

export interface CreateUserRequest {
  name: string;
  isAdmin?: boolean;
}

/** Collection of user documents, keyed by user id. */
export const USER_COLLECTION = 'user';
/** Collection mapping a user name to its id; create-if-absent keeps names unique. */
export const USER_NAME_COLLECTION = 'user_name';

const USER_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/;
const USER_ID_PATTERN = /^[0-9a-f]{32}$/;
const SCAN_PAGE_SIZE = 500;

interface UserNameEntry {
  userId: string;
}

/** Users of this provider, kept in the metadata store. */
@injectable()
export class UserService {
  constructor(
    @inject(TYPES.MetadataStore) private readonly store: MetadataStore,
    @inject(TYPES.Clock) private readonly clock: Clock,
  ) {}

  /**
   * Create a user. Names are 1 to 64 characters of letters, digits and `._@+-`, start
   * with a letter or digit, and are unique: a taken name throws `alreadyExists`.
   */
  async create(request: CreateUserRequest): Promise<UserRecord> {
    const name = assertValidUserName(request.name);
    const user: UserRecord = {
      id: randomBytes(16).toString('hex'),
      name,
      isAdmin: request.isAdmin ?? false,
      created: this.clock.now(),
    };

    await this.reserveName(name, user.id);
    try {
      await this.store.create<UserRecord>(USER_COLLECTION, user.id, user);
    } catch (error) {
      await this.store.delete(USER_NAME_COLLECTION, name);
      throw error;
    }
    return user;
  }

  /** Read a user; throws `notFound` when the id is unknown. */
  async get(userId: string): Promise<UserRecord> {
    const user = await this.find(userId);
    if (user === undefined) throw OpError.notFound(`user "${userId}"`, { userId });
    return user;
  }

  /** Read a user, or undefined when the id is unknown or malformed. */
  async find(userId: string): Promise<UserRecord | undefined> {
    if (!USER_ID_PATTERN.test(userId)) return undefined;
    const document = await this.store.get<UserRecord>(USER_COLLECTION, userId);
    return document?.value;
  }

  async findByName(name: string): Promise<UserRecord | undefined> {
    const entry = await this.store.get<UserNameEntry>(USER_NAME_COLLECTION, name);
    if (entry === undefined) return undefined;
    return this.find(entry.value.userId);
  }

  /** Find a user by id or, failing that, by name; throws `notFound` when neither matches. */
  async resolve(idOrName: string): Promise<UserRecord> {
    const user = (await this.find(idOrName)) ?? (await this.findByName(idOrName));
    if (user === undefined) throw OpError.notFound(`user "${idOrName}"`, { user: idOrName });
    return user;
  }

  /**
   * Delete a user's record and free its name; `notFound` when the id is unknown. Tokens,
   * group and space memberships are the caller's part (see `IdentityRemoval`).
   */
  async delete(userId: string): Promise<void> {
    const user = await this.get(userId);
    await this.store.delete(USER_COLLECTION, user.id);
    await this.store.delete(USER_NAME_COLLECTION, user.name);
  }

  /** List all users in the store's stable scan order. */
  async list(): Promise<UserRecord[]> {
    const users: UserRecord[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.store.scan<UserRecord>(USER_COLLECTION, { cursor, limit: SCAN_PAGE_SIZE });
      for (const document of page.documents) users.push(document.value);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    return users;
  }

  private async reserveName(name: string, userId: string): Promise<void> {
    try {
      await this.store.create<UserNameEntry>(USER_NAME_COLLECTION, name, { userId });
    } catch (error) {
      if (OpError.is(error) && error.kind === 'alreadyExists') {
        throw new OpError('alreadyExists', `a user named "${name}" already exists`, { key: 'name', name });
      }
      throw error;
    }
  }
}

/** Check a user name; throws `badValue` with key `name`. */
export function assertValidUserName(name: string): string {
  if (!USER_NAME_PATTERN.test(name)) {
    throw OpError.badValue(
      'name',
      `user name "${name}" is invalid: use 1 to 64 letters, digits or "._@+-", starting with a letter or digit`,
    );
  }
  return name;
}
