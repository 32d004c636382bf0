import { OpError } from '@op-worker/core';
import type { Client, types } from 'cassandra-driver';

import { toOpError } from './errors.js';

export interface ExecuteOptions {
  /**
   * True when running the statement twice has the same effect as once, so the driver
   * may retry it after a timeout. Conditional writes (lightweight transactions) are
   * never idempotent: a retry of one that was applied would report "not applied".
   */
  idempotent: boolean;
  /** Rows per page. The result contains one page and a `pageState` for the next. */
  fetchSize?: number;
  /** Page state of the previous page, to continue a paged query. */
  pageState?: string | undefined;
}

/** A row as cassandra-driver returns it; bigint columns arrive as `Long`. */
export type Row = types.Row;

/**
 * Runs prepared CQL statements on the store's client and maps every driver failure to
 * `OpError` through `toOpError`. Table names in the CQL text are qualified with the
 * keyspace, so the client needs no current keyspace.
 */
export class CqlSession {
  private client: Client | undefined;

  constructor(
    readonly keyspace: string,
    readonly contactPoints: readonly string[],
  ) {}

  attach(client: Client | undefined): void {
    this.client = client;
  }

  /** Returns the keyspace-qualified name of `table`. */
  table(table: string): string {
    return `${this.keyspace}.${table}`;
  }

  async execute(
    operation: string,
    cql: string,
    params: readonly unknown[],
    options: ExecuteOptions,
  ): Promise<types.ResultSet> {
    const client = this.requireClient(operation);
    try {
      return await client.execute(cql, params as unknown[], {
        prepare: true,
        isIdempotent: options.idempotent,
        ...(options.fetchSize === undefined ? {} : { fetchSize: options.fetchSize }),
        ...(options.pageState === undefined ? {} : { pageState: options.pageState }),
      });
    } catch (error) {
      throw toOpError(error, { operation, contactPoints: this.contactPoints, keyspace: this.keyspace });
    }
  }

  private requireClient(operation: string): Client {
    if (this.client === undefined) {
      throw new OpError(
        'unavailable',
        `Cassandra metadata store (keyspace ${this.keyspace}) is not open during ${operation}. Call open() first.`,
        { operation, keyspace: this.keyspace },
      );
    }
    return this.client;
  }
}

/** Reads a bigint, int or counter column as a JavaScript number; undefined for null. */
export function numberColumn(row: Row | undefined, column: string): number | undefined {
  const value: unknown = row?.[column];
  if (value === null || value === undefined) {
    return undefined;
  }
  if (typeof value === 'number') {
    return value;
  }
  if (typeof value === 'object' && typeof (value as { toNumber?: unknown }).toNumber === 'function') {
    return (value as { toNumber(): number }).toNumber();
  }
  return Number(value);
}

export function textColumn(row: Row | undefined, column: string): string | undefined {
  const value: unknown = row?.[column];
  return typeof value === 'string' ? value : undefined;
}

/** Returns whether a conditional write was applied. */
export function wasApplied(result: types.ResultSet): boolean {
  return result.wasApplied();
}

/** Returns the page state of a result as a string, or undefined on the last page. */
export function nextPageState(result: types.ResultSet): string | undefined {
  const state: unknown = result.pageState;
  return typeof state === 'string' && state.length > 0 ? state : undefined;
}
