/**
 * Installed-base bodies kept in process, each with the change count it was built at (decision
 * 0021). PostgreSQL stays the source of truth (rule 1): a read counts the account's recorded
 * changes in its own transaction (store.installedBaseChanges, one cheap statement) and is served
 * from here only when the count is the one the body was built at; otherwise it builds the body as
 * before and keeps it. A change in any process moves the count in PostgreSQL, so no process
 * needs to be told of it: there is no invalidation, and nothing is ever served without the check.
 *
 * What is kept is the body's products and subscriptions (the bytes between `"products":[` and
 * the closing `]}`), by (tenant, account, asOf): the account's ids and the snapshot time (the
 * injected clock's now) are written by every read. The tenant in the key is the transaction's,
 * whose Row-Level Security let the read find the account.
 *
 * Bounded by bytes, least recently used out: a body of a large account is megabytes (1.7 MB for
 * 1,000 products with a service and two resources each), a small one a few hundred bytes.
 * `maxBytes` 0 turns the cache off (TENURE_INSTALLED_BASE_CACHE_MB=0): every read builds, and no
 * count is taken.
 */

/** Bytes an entry costs besides its body: the key (UTF-16 in V8) and the Map's and entry's own. */
const ENTRY_OVERHEAD_BYTES = 200;

interface Entry {
  changes: number;
  body: Buffer;
  bytes: number;
}

export interface InstalledBaseCacheStats {
  hits: number;
  misses: number;
  /** Entries dropped to stay within maxBytes. */
  evictions: number;
  entries: number;
  bytes: number;
}

export class InstalledBaseCache {
  /** Map order is use order: the first key is the least recently used. */
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;

  constructor(readonly maxBytes: number) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new Error(`InstalledBaseCache: maxBytes must be a whole number ≥ 0, got ${maxBytes}`);
  }

  get enabled(): boolean {
    return this.maxBytes > 0;
  }

  /** The body kept for the key if it was built at `changes`; an entry built at another count is dropped. */
  get(tenantId: string, accountId: string, asOf: string | null, changes: number): Buffer | undefined {
    const key = keyOf(tenantId, accountId, asOf);
    const entry = this.entries.get(key);
    if (entry?.changes === changes) {
      this.hits++;
      this.entries.delete(key);
      this.entries.set(key, entry);
      return entry.body;
    }
    this.misses++;
    if (entry) this.remove(key, entry);
    return undefined;
  }

  /**
   * Keeps `body`, built at `changes` (or later in the same transaction: decision 0021 says why a
   * body newer than its count is safe), and returns it. A body larger than the whole budget is
   * not kept.
   */
  set(tenantId: string, accountId: string, asOf: string | null, changes: number, body: Buffer): Buffer {
    if (!this.enabled) return body;
    const key = keyOf(tenantId, accountId, asOf);
    const old = this.entries.get(key);
    if (old) this.remove(key, old);
    const bytes = body.length + ENTRY_OVERHEAD_BYTES;
    if (bytes > this.maxBytes) return body;
    this.entries.set(key, { changes, body, bytes });
    this.bytes += bytes;
    for (const [oldestKey, oldest] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.remove(oldestKey, oldest);
      this.evictions++;
    }
    return body;
  }

  get stats(): InstalledBaseCacheStats {
    return { hits: this.hits, misses: this.misses, evictions: this.evictions, entries: this.entries.size, bytes: this.bytes };
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }

  private remove(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.bytes -= entry.bytes;
  }
}

// Tenant and account ids are uuids and asOf a canonical instant: '/' cannot occur in any of them.
const keyOf = (tenantId: string, accountId: string, asOf: string | null) => `${tenantId}/${accountId}/${asOf ?? 'now'}`;
