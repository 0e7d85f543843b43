// TypeScript declarations of the ofa package.

/** An error of libofaclient or the daemon. */
export interface OfaError extends Error {
  /** The errno's name: 'ENOENT', 'EACCES', 'EINVAL', 'ENOMEM', ... */
  code: string;
  /** The errno's value (positive). */
  errno: number;
}

export interface AllocOptions {
  /** The block outlives this connection: any client may free it later. */
  keep?: boolean;
  /** The block is filled with zeros before it is returned. */
  zero?: boolean;
  /** Only this connection (its session) may free the block; small private
   * blocks are served from the connection's cache, without a round trip. */
  private?: boolean;
  /** An ordinary block, in an arena whose default is private. */
  shared?: boolean;
  /** Alignment in bytes (a power of two; at least the arena's). */
  align?: number | bigint;
}

export interface ArenaOptions {
  pageSize?: number;
  maxBytes?: number;
  align?: number;
  /** Permission bits (owner, group, others), e.g. 0o640. Default 0o600. */
  mode?: number;
  /** Blocks are private unless keep or shared says otherwise. */
  private?: boolean;
  /** Bytes one connection's cache of private blocks may hold (0: the daemon's default). */
  cacheMax?: number;
}

export interface ArenaStats {
  pageSize: number;
  align: number;
  maxBytes: number;
  pages: number;
  bytesReserved: number;
  bytesLive: number;
  blocksLive: number;
  freeChunks: number;
  largestFree: number;
  allocs: number;
  frees: number;
  allocFailures: number;
  /** The arena makes private blocks by default. */
  private: boolean;
  /** Bytes one connection's cache of private blocks may hold. */
  cacheMax: number;
  /** Of blocksLive and bytesLive: what sits in client caches (as last reported). */
  blocksCached: number;
  bytesCached: number;
}

export interface ArenaRecord extends ArenaStats {
  name: string;
  uid: number;
  gid: number;
  mode: number;
  /** false: the caller may not read the arena, and its figures are zero. */
  readable: boolean;
}

export interface DaemonStats {
  version: string;
  uptimeS: number;
  clients: number;
  arenas: number;
  bytesReserved: number;
  bytesLimit: number;
  pid: number;
}

type TypedArrayConstructor<T> = {
  new (buffer: ArrayBuffer, byteOffset: number, length: number): T;
  readonly BYTES_PER_ELEMENT: number;
};

export type Offset = bigint | number;

export interface BlockRecord {
  off: bigint;
  size: number;
  kind: 'page' | 'live' | 'kept' | 'free';
  /** For 'live': the owner's pid and connection id (see ofactl clients). */
  pid: number;
  client: number;
}

export interface NamedBlock {
  off: bigint;
  size: number;
}

export interface NameRecord extends NamedBlock {
  name: string;
  /** Who bound it, and its process then (0 if not known). */
  uid: number;
  pid: number;
}

export class Arena {
  readonly name: string;
  /** false for a read-only handle: views are then copies. */
  readonly writable: boolean;
  alloc(bytes: number | bigint, opts?: AllocOptions): bigint;
  /** As alloc, waiting on the libuv thread pool. */
  allocAsync(bytes: number | bigint, opts?: AllocOptions): Promise<bigint>;
  allocMany(bytes: number | bigint, count: number, opts?: AllocOptions): BigUint64Array;
  free(off: Offset): void;
  /** Frees in order, stopping at the first offset that is not a live block. */
  freeMany(offs: BigUint64Array | Iterable<Offset>): number;
  /** length elements of Type over the block's bytes at off, zero copy. */
  view<T>(off: Offset, Type: TypedArrayConstructor<T>, length: number): T;
  float32(off: Offset, length: number): Float32Array;
  bytes(off: Offset, length: number): Uint8Array;
  stats(): ArenaStats;
  trim(): number;
  /** Finds the block bound to name, or allocates a kept one and binds it. */
  allocNamed(name: string, bytes: number | bigint, opts?: { excl?: boolean }): { off: bigint; created: boolean };
  bindName(name: string, off: Offset): void;
  unbindName(name: string): void;
  lookup(name: string): NamedBlock;
  /** Resolves once name is bound; rejects with ETIMEDOUT after timeoutMs. */
  lookupWait(name: string, timeoutMs?: number): Promise<NamedBlock>;
  blockSize(off: Offset): number;
  /** Sleeps while the 32-bit word at off holds expected (blocks the JS thread). */
  wait(off: Offset, expected: number, timeoutMs?: number): 'ok' | 'not-equal' | 'timed-out';
  /** As wait, on the libuv thread pool. */
  waitAsync(off: Offset, expected: number, timeoutMs?: number): Promise<'ok' | 'not-equal' | 'timed-out'>;
  /** Wakes up to count (default all) waiters on the word at off. */
  wake(off: Offset, count?: number): number;
  close(): void;
}

export interface ConnectOptions {
  /** The deadline of each call in ms (0: none); default $OFAD_TIMEOUT_MS or 5000. */
  timeoutMs?: number;
}

export class Client {
  readonly serverVersion: string;
  setTimeout(ms: number): void;
  createArena(name: string, opts?: ArenaOptions): void;
  dropArena(name: string, opts?: { force?: boolean }): void;
  arenas(): ArenaRecord[];
  arenaInfo(name: string): ArenaRecord;
  openArena(name: string): Arena;
  daemonStats(): DaemonStats;
  /** An arena's pages and blocks in address order (free chunks with free: true). */
  blocks(arena: string, opts?: { free?: boolean }): BlockRecord[];
  names(arena: string): NameRecord[];
  ping(): void;
  close(): void;
}

/** Connects to ofad; without a path, $OFAD_SOCKET, else /run/ofad/ofad.sock. */
export function connect(socketPath?: string, opts?: ConnectOptions): Client;

/** The version of the libofaclient loaded ("MAJOR.MINOR.PATCH"). */
export function libraryVersion(): string;
