/**
 * What the upload engine needs of a store, as interfaces: the engine reads and writes an upload's
 * bytes and state only through these, so the file store here, a shared store (Redis and a shared
 * volume) or an object store are implementations of the same few calls. tusd's `DataStore` and
 * `StoreComposer` and @tus/server's `DataStore` are the models; a store declares its capabilities.
 */
import { randomBytes } from 'node:crypto';
import type { Representation } from '../representation.js';
import type { UploadLease } from './lock.js';
import type { UploadState } from './protocol.js';

/** 128 random bits, base64url: 22 characters of this alphabet. */
export const UPLOAD_ID = /^[A-Za-z0-9_-]{22}$/;

/** A fresh upload id: 128 random bits, base64url. */
export function newUploadId(): string {
  return randomBytes(16).toString('base64url');
}

/** What the store knows of an id: its state, `lost` when its data did not survive, undefined when unknown. */
export type StoredUpload =
  { readonly kind: 'present'; readonly state: UploadState } | { readonly kind: 'lost' } | undefined;

/** One file holding an upload's bytes: the whole upload, or one part of a final upload, in order. */
export interface UploadFile {
  /** Absolute path. */
  readonly path: string;
  /** The bytes of the upload it holds (its size). */
  readonly length: number;
}

/**
 * An upload's data opened for an append at exactly its recorded offset: positioned writes, a sync
 * that makes them durable, and a cut back to a durable length when a request's bytes are not kept.
 */
export interface Appender {
  /** Writes `chunks` in order at `position`; resolves how many bytes went down (it may be fewer). */
  write(chunks: readonly Uint8Array[], position: number): Promise<number>;
  /** Makes every byte written so far durable (fdatasync: the data and the size). */
  sync(): Promise<void>;
  /** Cuts the data back to `length` bytes and makes that durable (a discarded or failed request's bytes). */
  truncate(length: number): Promise<void>;
  /** The size of the data now. */
  size(): Promise<number>;
  close(): Promise<void>;
}

/** What the store does beyond the basics. */
export interface StoreCapabilities {
  /** tus concatenation: {@link UploadStore.concatenate} makes a final upload of complete partial ones. */
  readonly concatenation: boolean;
}

/** How a store decides, at start-up, about the uploads it finds (the engine's rules, passed in). */
export interface Reconciliation {
  /** The upload has expired: removed. */
  readonly isExpired: (state: UploadState) => boolean;
  /** An upload found with every declared byte durable but not marked complete: its completed state. */
  readonly finish: (state: UploadState) => UploadState | undefined;
}

/** Metadata a download of a finished upload is described with. */
export interface DownloadMetadata {
  readonly contentType: string;
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * The uploads' bytes and state. The state it returns is the truth for every request: a store shared by
 * several processes reads it on every call. Every method that changes what is durable resolves only
 * once it is on stable storage; a failure leaves the upload to {@link UploadStore.settle}.
 */
export interface UploadStore {
  readonly capabilities: StoreCapabilities;
  /** Prepares the store and reconciles what it holds (bytes past a durable offset cut, leftovers removed). */
  open(reconciliation: Reconciliation): Promise<void>;
  /** Creates a new upload with empty data and `state`, durably. */
  create(state: UploadState): Promise<void>;
  /** The state of upload `id`. */
  load(id: string): Promise<StoredUpload>;
  /**
   * The data of `state` opened for an append, cut back to its offset; undefined when bytes under the
   * offset are gone. `lease` is the writer's: a shared store gives each lease a file of its own.
   */
  openAppender(state: UploadState, lease?: UploadLease): Promise<Appender | undefined>;
  /**
   * Makes `state` the durable state. With `lease`, refused with `LeaseLostError` (nothing recorded)
   * unless the lease is still held when the state is recorded.
   */
  commit(state: UploadState, lease?: UploadLease): Promise<void>;
  /** Makes memory and storage agree again after a failure: data cut back to the durable offset. */
  settle(id: string): Promise<StoredUpload>;
  /** Removes an upload and its bytes. */
  remove(id: string): Promise<void>;
  /** Removes an upload whose bytes were lost, answering 410 for it from then on. */
  deactivate(id: string): Promise<void>;
  /** Uploads that may expire (unfinished ones, and partial ones), with the time of their last change. */
  expiring(): Iterable<readonly [string, number]> | Promise<Iterable<readonly [string, number]>>;
  /** How many unfinished uploads exist (for `maxUploads`). */
  countUnfinished(): number | Promise<number>;
  /** The files holding `state`'s bytes, in order. */
  files(state: UploadState): readonly UploadFile[] | Promise<readonly UploadFile[]>;
  /** The finished upload `state` as a representation for a download (its bytes checked against its length). */
  describe(state: UploadState, metadata: DownloadMetadata): Promise<Representation>;
  /** The SHA-256 of the first `length` bytes of `state`'s data, base64 (a read of them). */
  sha256(state: UploadState, length: number): Promise<string>;
  /**
   * Creates `final` (complete, its `concat.parts` set) from the complete partial uploads `parts`, in
   * order, without copying their bytes through JavaScript: a crash leaves no final or a whole one.
   * Only where `capabilities.concatenation`.
   */
  concatenate?(final: UploadState, parts: readonly UploadState[]): Promise<void>;
  /** Lets go of what the store holds beyond the uploads (an owner file, connections). */
  close?(): void;
}
