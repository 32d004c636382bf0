import type { Clock, Lease } from '@op-worker/core';

import { numberColumn, textColumn, wasApplied, type CqlSession, type Row } from './session.js';
import { checkTtl } from './validation.js';

/** Conditional writes one `acquire` tries before it reports the lease as taken. */
const ACQUIRE_ATTEMPTS = 8;

interface LeaseState {
  holder: string;
  expiresAtMs: number;
}

/**
 * Leases as rows changed only by lightweight transactions. Expiry is decided with the
 * injected clock (a lease is free once `expires_at_ms <= now`), not with Cassandra's TTL,
 * so tests can move time and every worker judges expiry by the same rule.
 */
export class LeaseTable {
  private readonly cql;

  constructor(
    private readonly session: CqlSession,
    private readonly clock: Clock,
  ) {
    const leases = session.table('leases');
    this.cql = {
      get: `SELECT holder, expires_at_ms FROM ${leases} WHERE name = ?`,
      insert: `INSERT INTO ${leases} (name, holder, expires_at_ms) VALUES (?, ?, ?) IF NOT EXISTS`,
      takeOver: `UPDATE ${leases} SET holder = ?, expires_at_ms = ? WHERE name = ? IF holder = ? AND expires_at_ms = ?`,
      renew: `UPDATE ${leases} SET expires_at_ms = ? WHERE name = ? IF holder = ? AND expires_at_ms > ?`,
      release: `DELETE FROM ${leases} WHERE name = ? IF holder = ?`,
    };
  }

  /**
   * Takes the lease when it is absent, expired or already held by `holder`. Each write
   * is conditional on the state just read, so of racing callers exactly one wins; a
   * loser re-judges the state its failed write returned.
   */
  async acquire(name: string, holder: string, ttlMs: number): Promise<Lease | undefined> {
    checkTtl(ttlMs);
    let state = await this.read(name);

    for (let attempt = 0; attempt < ACQUIRE_ATTEMPTS; attempt++) {
      const now = this.clock.now();
      const expiresAtMs = now + ttlMs;
      if (state !== undefined && state.holder !== holder && state.expiresAtMs > now) {
        return undefined;
      }

      const result =
        state === undefined
          ? await this.session.execute('acquireLease', this.cql.insert, [name, holder, expiresAtMs], { idempotent: false })
          : await this.session.execute(
              'acquireLease',
              this.cql.takeOver,
              [holder, expiresAtMs, name, state.holder, state.expiresAtMs],
              { idempotent: false },
            );
      if (wasApplied(result)) {
        return { name, holder, expiresAtMs };
      }
      state = toState(result.first() ?? undefined);
    }
    return undefined;
  }

  /** Extends a lease that `holder` still holds unexpired. An expired lease counts as lost, as `get` reports it free. */
  async renew(name: string, holder: string, ttlMs: number): Promise<Lease | undefined> {
    checkTtl(ttlMs);
    const now = this.clock.now();
    const expiresAtMs = now + ttlMs;
    const result = await this.session.execute('renewLease', this.cql.renew, [expiresAtMs, name, holder, now], {
      idempotent: false,
    });
    return wasApplied(result) ? { name, holder, expiresAtMs } : undefined;
  }

  async release(name: string, holder: string): Promise<void> {
    await this.session.execute('releaseLease', this.cql.release, [name, holder], { idempotent: false });
  }

  async get(name: string): Promise<Lease | undefined> {
    const state = await this.read(name);
    if (state === undefined || state.expiresAtMs <= this.clock.now()) {
      return undefined;
    }
    return { name, holder: state.holder, expiresAtMs: state.expiresAtMs };
  }

  private async read(name: string): Promise<LeaseState | undefined> {
    const result = await this.session.execute('getLease', this.cql.get, [name], { idempotent: true });
    return toState(result.first() ?? undefined);
  }
}

/** Reads the lease columns of a row (a read, or a failed conditional write); undefined when the row is absent. */
function toState(row: Row | undefined): LeaseState | undefined {
  const holder = textColumn(row, 'holder');
  const expiresAtMs = numberColumn(row, 'expires_at_ms');
  if (holder === undefined || expiresAtMs === undefined) {
    return undefined;
  }
  return { holder, expiresAtMs };
}
