/**
 * Receiving the content of a creation or append: bytes are written in order at their offset in the
 * upload's data, never past the limit, then synced before the caller acknowledges the new offset. Every
 * byte the content hands over is written, also when the client goes away or a newer request takes over.
 */
import { createHash, type Hash } from 'node:crypto';
import type { BodyOutcome, ChecksumExpectation } from './protocol.js';
import type { UploadContent } from './request.js';
import type { Appender } from './store.js';

/** How to receive one request's content. */
export interface ReceiveOptions {
  /** The upload's data, open for the append. */
  readonly appender: Appender;
  /** Offset of the first byte of the content. */
  readonly start: number;
  /** Bytes that may be stored; a byte beyond ends the request with `too-large`. */
  readonly maxBytes: number;
  /** End the request after this long without a byte (ms). */
  readonly idleTimeout: number;
  /**
   * The slowest average rate a body may keep (bytes per second), or undefined for none: after the first
   * `idleTimeout`, the body must have brought `minRate` bytes for every further second, else it ends
   * with `slow` (Apache's `RequestReadTimeout … MinRate` works the same way).
   */
  readonly minRate?: number | undefined;
  /** tus checksum over the whole content: on mismatch, or content cut short, its bytes are discarded. */
  readonly checksum: ChecksumExpectation | undefined;
  /** Registers the take-over callback with the lock. */
  readonly onInterrupt: (interrupt: () => void) => void;
  /**
   * Called after a background sync once {@link CHECKPOINT_BYTES} more of a long body are durable
   * (not with a checksum, whose bytes are unverified until the end), with the bytes now durable, to
   * record the offset. Never called concurrently, and always settled before the promise resolves.
   */
  readonly onCheckpoint?: ((durable: number) => Promise<void>) | undefined;
  /**
   * The running SHA-256 of the upload's bytes before `start`, carried on with every byte taken, so that
   * the completed upload's digest needs no second read of its data.
   */
  readonly contentHash?: Hash | undefined;
}

/** How many bytes of a long body may arrive between two durable checkpoints. */
export const CHECKPOINT_BYTES = 8 * 1024 * 1024;

/** A background sync starts once this many bytes were written since the last one. */
const FLUSH_BYTES = 1024 * 1024;

/** Buffers handed to one write (Linux's IOV_MAX). */
const WRITEV_MAX = 1024;

/** Above this many bytes queued for the disk, reading waits until the writes catch up. */
const HIGH_WATER = 4 * 1024 * 1024;

/** The buffers of `batch` from byte `skip` on (after a short write). */
function remainder(batch: readonly Uint8Array[], skip: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let left = skip;
  for (const chunk of batch) {
    if (left >= chunk.byteLength) {
      left -= chunk.byteLength;
      continue;
    }
    out.push(left > 0 ? chunk.subarray(left) : chunk);
    left = 0;
  }
  return out;
}

/** What came of the content: the outcome and the bytes now durable after `start`. */
export interface ReceiveResult {
  readonly outcome: BodyOutcome;
  readonly received: number;
  /** True when `contentHash` now covers exactly the bytes up to `start + received`. */
  readonly contentHashed: boolean;
}

/** Raised when a middleware before us already read the request body. */
export class ConsumedBodyError extends Error {
  constructor() {
    super('the request body was already read by another middleware (a body parser before resumableUploads?)');
    this.name = 'ConsumedBodyError';
  }
}

/**
 * Receives `content` into the upload's data; resolves once the kept bytes are durable. Reading and
 * writing overlap: chunks are queued while the previous ones go down in one positioned write, and
 * reading waits only while more than {@link HIGH_WATER} bytes are queued.
 */
export async function receiveContent(content: UploadContent, options: ReceiveOptions): Promise<ReceiveResult> {
  const { appender, start, maxBytes, checksum } = options;
  const hash: Hash | undefined = checksum === undefined ? undefined : createHash(checksum.algorithm);
  const queue: Uint8Array[] = [];
  let queued = 0;
  let accepted = 0; // bytes taken into the queue (all within maxBytes)
  let written = 0;
  let writing: Promise<void> | undefined;
  let checkpoint = 0; // bytes recorded durably through onCheckpoint
  let flushed = 0; // bytes covered by the last background sync
  let flushing: Promise<void> | undefined;
  let stopped: BodyOutcome | undefined; // why we ended the content ourselves
  let failure: unknown;
  let caughtUp: (() => void) | undefined;
  const started = Date.now();

  const stop = (reason: BodyOutcome): void => {
    if (stopped !== undefined) return;
    stopped = reason;
    // A take-over ends the request itself (its client learns it lost the upload); the others are answered.
    content.stop(reason === 'taken-over');
  };

  let idle: ReturnType<typeof setTimeout> | undefined;
  const armIdle = (): void => {
    clearTimeout(idle);
    idle = setTimeout(() => stop('idle'), options.idleTimeout);
    (idle as { unref?: () => void }).unref?.();
  };
  // A body that keeps sending a byte now and then never trips the idle timeout: the rate check ends it.
  const minRate = options.minRate;
  const rateCheck =
    minRate === undefined
      ? undefined
      : setInterval(
          () => {
            if (Date.now() - started > options.idleTimeout + (accepted / minRate) * 1000) stop('slow');
          },
          Math.min(1000, options.idleTimeout),
        );
  (rateCheck as { unref?: () => void } | undefined)?.unref?.();

  async function pump(): Promise<void> {
    try {
      while (queue.length > 0 && failure === undefined) {
        // Everything queued goes down in one positioned write (at most IOV_MAX buffers).
        const batch = queue.splice(0, WRITEV_MAX);
        let size = 0;
        for (const chunk of batch) size += chunk.byteLength;
        queued -= size;
        let done = 0;
        while (done < size) {
          done += await appender.write(done === 0 ? batch : remainder(batch, done), start + written + done);
        }
        written += size;
        flushInBackground();
        if (queued <= HIGH_WATER / 2) caughtUp?.();
      }
    } catch (err) {
      failure ??= err;
      stop('aborted');
    } finally {
      writing = undefined;
      caughtUp?.();
    }
  }

  /**
   * Starts a sync of what is written so far while the body keeps arriving, so the disk works alongside
   * the network and the final sync has little left to do. Once durable, every CHECKPOINT_BYTES of it
   * are recorded as the upload's offset (a crash loses at most what follows). Nothing is acknowledged
   * from here: the response waits for the final sync below.
   */
  function flushInBackground(): void {
    if (flushing !== undefined || failure !== undefined || stopped !== undefined) return;
    if (written - flushed < FLUSH_BYTES) return;
    const target = written;
    flushing = (async () => {
      await appender.sync();
      flushed = target;
      if (options.onCheckpoint !== undefined && hash === undefined && target - checkpoint >= CHECKPOINT_BYTES) {
        checkpoint = target;
        await options.onCheckpoint(target);
      }
    })().then(
      () => {
        flushing = undefined;
        flushInBackground();
      },
      (err: unknown) => {
        flushing = undefined;
        failure ??= err;
        stop('aborted');
      },
    );
  }

  options.onInterrupt(() => stop('taken-over'));
  armIdle();
  let tooLarge = false;
  try {
    for await (const chunk of content) {
      if (tooLarge || failure !== undefined) continue;
      const room = maxBytes - accepted;
      const part = chunk.byteLength > room ? chunk.subarray(0, room) : chunk;
      if (part.byteLength > 0) {
        queue.push(part);
        queued += part.byteLength;
        accepted += part.byteLength;
        hash?.update(part);
        options.contentHash?.update(part);
        writing ??= pump();
      }
      if (chunk.byteLength > room) {
        tooLarge = true;
        stop('too-large');
        continue;
      }
      armIdle();
      // Backpressure: the next chunk is asked for once the disk has caught up with the queue.
      while (queued > HIGH_WATER && failure === undefined && writing !== undefined) {
        await new Promise<void>((resolve) => (caughtUp = resolve));
        caughtUp = undefined;
      }
    }
  } catch (err) {
    // The content failed to arrive (a transport error): what it handed over is kept.
    if (stopped === undefined) stopped = 'aborted';
    void err;
  } finally {
    clearTimeout(idle);
    clearInterval(rateCheck);
  }
  const outcome: BodyOutcome =
    stopped ?? (tooLarge ? 'too-large' : content.ending === 'complete' ? 'complete' : 'aborted');
  while (writing !== undefined) await writing;
  if (queue.length > 0 && failure === undefined) await pump();
  // A background flush may still be recording a checkpoint: the final commit comes after it.
  while (flushing !== undefined) await flushing;
  if (failure !== undefined) throw failure;
  let kept = written;
  let final = outcome;
  if (hash !== undefined && checksum !== undefined) {
    const matches = final === 'complete' && hash.digest().equals(checksum.digest);
    // tus "checksum": unverifiable or mismatching bytes are not kept.
    if (!matches) {
      await appender.truncate(start);
      kept = 0;
      if (final === 'complete') final = 'checksum-mismatch';
    }
  }
  // fdatasync: the data and the size, which is all an offset needs.
  await appender.sync();
  return { outcome: final, received: kept, contentHashed: options.contentHash !== undefined && kept === accepted };
}
