/**
 * The catalog read cache (seed 001: "ListProducts … кэшируется Redis 5m"; seed 000 §19:
 * versioned keys). PostgreSQL stays the source of truth (ARCHITECTURE rule 1): the cache only
 * holds answers that PostgreSQL gave, and any failure of the cache means "ask PostgreSQL".
 *
 * Versioned keys. Every tenant has a catalog revision counter; every entry's key contains the
 * revision it was read under:
 *
 *   tenure:catalog:{tenantId}:revision                      → 1751452200123 (a counter, TTL 1 day)
 *   tenure:catalog:{tenantId}:r1751452200123:{sha1(query)}  → the JSON answer, TTL 5 min
 *
 * Every catalog change bumps the counter after its transaction commits (and before the API
 * answers), so the next read builds a key no entry has yet and reads PostgreSQL: a change is
 * visible on the next read. Old entries are never overwritten, just unreachable, and expire.
 * A reader races safely with a change: it takes the revision before it reads PostgreSQL, so an
 * answer read before the commit is stored under the old revision.
 *
 * Backends: Redis when REDIS_URL is set (shared by every process), otherwise an in-process Map
 * (one process: a change made by another process is seen when the entry expires). The TTL is a
 * safety net for what counters cannot see: a bump lost because Redis was unreachable at that
 * moment, or a process that died between its commit and its bump.
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Clock } from '../platform/clock.ts';

export const CATALOG_CACHE_TTL_MS = 5 * 60 * 1000;
const MEMORY_MAX_ENTRIES = 2000;

export interface CacheStats {
  hits: number;
  misses: number;
  /** Reads and bumps that Redis did not answer (the read went to PostgreSQL). */
  errors: number;
}

export interface CatalogCache {
  readonly backend: 'redis' | 'memory';
  readonly stats: CacheStats;
  /** The cached answer to `query` for the tenant, or `load()`'s answer (then cached). */
  read<T>(tenantId: string, query: string, load: () => Promise<T>): Promise<T>;
  /** The tenant's catalog changed: make every cached answer of it unreachable. */
  invalidate(tenantId: string): Promise<void>;
  close(): Promise<void>;
}

export function createCatalogCache(options: { redisUrl?: string | null; clock: Clock; ttlMs?: number }): CatalogCache {
  return options.redisUrl
    ? new RedisCatalogCache(options.redisUrl, options.ttlMs ?? CATALOG_CACHE_TTL_MS)
    : new MemoryCatalogCache(options.clock, options.ttlMs ?? CATALOG_CACHE_TTL_MS);
}

// ------------------------------------------------------------------ in-process

export class MemoryCatalogCache implements CatalogCache {
  readonly backend = 'memory' as const;
  readonly stats: CacheStats = { hits: 0, misses: 0, errors: 0 };
  private readonly revisions = new Map<string, number>();
  /** Insertion-ordered, so the first key is the oldest when the map is full. */
  private readonly entries = new Map<string, { json: string; expiresAt: number }>();

  constructor(private readonly clock: Clock, private readonly ttlMs: number) {}

  async read<T>(tenantId: string, query: string, load: () => Promise<T>): Promise<T> {
    const key = `${tenantId}:r${this.revisions.get(tenantId) ?? 0}:${query}`;
    const now = this.clock.now().getTime();
    const entry = this.entries.get(key);
    if (entry && entry.expiresAt > now) {
      this.stats.hits++;
      // Stored as JSON so that no caller can change a cached answer by changing its copy.
      return JSON.parse(entry.json) as T;
    }
    this.stats.misses++;
    const value = await load();
    if (this.entries.size >= MEMORY_MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { json: JSON.stringify(value), expiresAt: now + this.ttlMs });
    return value;
  }

  async invalidate(tenantId: string): Promise<void> {
    this.revisions.set(tenantId, (this.revisions.get(tenantId) ?? 0) + 1);
    // The old entries are unreachable already; dropping them now just frees the memory.
    for (const key of this.entries.keys()) if (key.startsWith(tenantId + ':')) this.entries.delete(key);
  }

  async close(): Promise<void> {
    this.entries.clear();
  }
}

// ------------------------------------------------------------------ Redis

/**
 * A missing counter starts at the current time in milliseconds, not at 1: if Redis lost the
 * counter but kept some entries (a restart with partial persistence, an eviction, its own
 * expiry), the new revision is still greater than any revision those entries were stored under
 * (that would take more than one catalog change per millisecond). So the counter itself can
 * expire: a tenant whose catalog is not read or changed for a day leaves nothing behind.
 */
const REVISION_TTL_MS = 24 * 60 * 60 * 1000;
const BUMP_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SET', KEYS[1], ARGV[1]) end
local revision = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return revision`;

export class RedisCatalogCache implements CatalogCache {
  readonly backend = 'redis' as const;
  readonly stats: CacheStats = { hits: 0, misses: 0, errors: 0 };
  private client: Redis | null = null;
  private connecting: Promise<void> | null = null;

  constructor(private readonly url: string, private readonly ttlMs: number) {}

  /**
   * The client, connected on first use (so a process that never reads the catalog, like the
   * CLI, never opens a connection). Commands fail at once instead of queueing while Redis is
   * unreachable (enableOfflineQueue: false), and time out after 500 ms, so a sick Redis costs a
   * request little before it falls back to PostgreSQL; the client keeps reconnecting.
   */
  private async redis(): Promise<Redis> {
    if (!this.client) {
      this.client = new Redis(this.url, {
        lazyConnect: true,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        connectTimeout: 1000,
        commandTimeout: 500,
        retryStrategy: (attempt) => Math.min(attempt * 200, 5000),
      });
      // Without a listener an unreachable Redis would crash the process; here it only means
      // "read PostgreSQL", counted in stats.errors when a command fails.
      this.client.on('error', () => {});
      this.client.defineCommand('tenureBumpRevision', { numberOfKeys: 1, lua: BUMP_SCRIPT });
      this.connecting = this.client.connect().catch(() => {});
    }
    await this.connecting;
    return this.client;
  }

  private static revisionKey(tenantId: string) {
    return `tenure:catalog:${tenantId}:revision`;
  }

  async read<T>(tenantId: string, query: string, load: () => Promise<T>): Promise<T> {
    let entryKey: string;
    let redis: Redis;
    try {
      redis = await this.redis();
      const revisionKey = RedisCatalogCache.revisionKey(tenantId);
      let revision = await redis.get(revisionKey);
      if (revision === null) {
        await redis.set(revisionKey, String(Date.now()), 'PX', REVISION_TTL_MS, 'NX');
        revision = await redis.get(revisionKey);
      }
      entryKey = `tenure:catalog:${tenantId}:r${revision}:${createHash('sha1').update(query).digest('hex')}`;
      const cached = await redis.get(entryKey);
      if (cached !== null) {
        this.stats.hits++;
        return JSON.parse(cached) as T;
      }
    } catch {
      this.stats.errors++;
      return load();
    }
    this.stats.misses++;
    const value = await load();
    try {
      await redis.set(entryKey, JSON.stringify(value), 'PX', this.ttlMs);
    } catch {
      this.stats.errors++;
    }
    return value;
  }

  async invalidate(tenantId: string): Promise<void> {
    try {
      const redis = await this.redis();
      await (redis as any).tenureBumpRevision(RedisCatalogCache.revisionKey(tenantId), String(Date.now()), String(REVISION_TTL_MS));
    } catch {
      // Entries of the old revision stay reachable until their TTL ends: the documented bound.
      this.stats.errors++;
    }
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = null;
    if (!client) return;
    if (client.status === 'ready') await client.quit().catch(() => client.disconnect());
    else client.disconnect();
  }
}

// ------------------------------------------------------------------ published documents

/**
 * The documents (bodies) of published catalog versions, in process, by (kind, tenant, id,
 * version): what a price preview reads for every line. A published version's document never
 * changes (a trigger refuses it, decision 0008), so an entry is never stale and needs neither
 * revision nor TTL; and other processes' changes cannot make it wrong. What does change is kept
 * out: drafts (their document is edited) are never stored, and a version's lifecycle (status,
 * retiredAt, which version is current) is read from PostgreSQL with its row every time — only
 * the document comes from here. The tenant is part of the key, taken from the row that Row-Level
 * Security let the reader see, so no tenant is ever served another's document.
 *
 * Entries are frozen (deeply), so no caller can change a cached document through its copy.
 * Bounded: past `maxEntries`, the least recently used tenth of the entries goes.
 */
export class PublishedDocuments {
  readonly stats = { hits: 0, misses: 0 };
  /** Each entry with when it was last used: a hit only stamps it (reordering a Map on every hit cost more than the rest of the read). */
  private readonly entries = new Map<string, DocumentEntry>();
  private uses = 0;

  constructor(private readonly maxEntries = 10_000) {}

  private static key(kind: string, tenantId: string, id: string, version: number): string {
    return `${kind}:${tenantId}:${id}:${version}`;
  }

  get(kind: string, tenantId: string, id: string, version: number): unknown {
    return this.entry(kind, tenantId, id, version)?.body;
  }

  /**
   * The entry itself, for a caller that keeps what it built from the document (a preview's
   * catalog views) and asks again with `use`, without building the key each time.
   */
  entry(kind: string, tenantId: string, id: string, version: number): DocumentEntry | undefined {
    const entry = this.entries.get(PublishedDocuments.key(kind, tenantId, id, version));
    if (entry === undefined) {
      this.stats.misses++;
      return undefined;
    }
    this.stats.hits++;
    entry.used = ++this.uses;
    return entry;
  }

  /**
   * True when every one of these entries is still in the cache (each counts as a hit, as `get`
   * would); false once one was evicted or the cache cleared — then the caller reads again.
   */
  use(entries: readonly DocumentEntry[]): boolean {
    for (const entry of entries) if (!entry.cached) return false;
    for (const entry of entries) entry.used = ++this.uses;
    this.stats.hits += entries.length;
    return true;
  }

  /** Stores a published version's document; returns it frozen. */
  set(kind: string, tenantId: string, id: string, version: number, body: unknown): unknown {
    if (this.entries.size >= this.maxEntries) this.evict();
    const frozen = deepFreeze(body);
    const key = PublishedDocuments.key(kind, tenantId, id, version);
    const replaced = this.entries.get(key);
    if (replaced) replaced.cached = false;
    this.entries.set(key, { body: frozen, used: ++this.uses, cached: true });
    return frozen;
  }

  /** When full: the least recently used tenth goes at once (a sort per 1,000 insertions, not a scan per insertion). */
  private evict(): void {
    const byUse = [...this.entries].sort((a, b) => a[1].used - b[1].used);
    for (const [key, entry] of byUse.slice(0, Math.max(1, Math.ceil(this.maxEntries / 10)))) {
      entry.cached = false;
      this.entries.delete(key);
    }
  }

  clear(): void {
    for (const entry of this.entries.values()) entry.cached = false;
    this.entries.clear();
  }
}

/** One cached document; `cached` turns false when it leaves the cache (eviction, clear). */
export interface DocumentEntry {
  readonly body: unknown;
  used: number;
  cached: boolean;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
