/**
 * Receiving the content of a creation or append: bytes are written in order at their offset in the
 * data file, never past the limit, then fsynced before the caller acknowledges the new offset. Every
 * byte Node has handed over is written, also when the client goes away or a newer request takes over.
 */
import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import type { ChecksumExpectation } from './protocol.js';
import type { BodyOutcome } from './protocol.js';

/** How to receive one request's content. */
export interface ReceiveOptions {
  /** The data file, open for writing. */
  readonly file: FileHandle;
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
   * Called after a background fdatasync once {@link CHECKPOINT_BYTES} more of a long body are durable
   * (not with a checksum, whose bytes are unverified until the end), with the bytes now durable, to
   * record the offset. Never called concurrently, and always settled before the promise resolves.
   */
  readonly onCheckpoint?: ((durable: number) => Promise<void>) | undefined;
  /**
   * The running SHA-256 of the upload's bytes before `start`, carried on with every byte taken, so that
   * the completed upload's digest needs no second read of its file.
   */
  readonly contentHash?: Hash | undefined;
}

/** How many bytes of a long body may arrive between two durable checkpoints. */
export const CHECKPOINT_BYTES = 8 * 1024 * 1024;

/** A background fdatasync starts once this many bytes were written since the last one. */
const FLUSH_BYTES = 1024 * 1024;

/** Buffers handed to one writev (Linux's IOV_MAX). */
const WRITEV_MAX = 1024;

/** The buffers of `batch` from byte `skip` on (after a short writev). */
function remainder(batch: readonly Buffer[], skip: number): Buffer[] {
  const out: Buffer[] = [];
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

/** Above this many bytes queued for the disk, reading pauses until the writes catch up. */
const HIGH_WATER = 4 * 1024 * 1024;

/** Raised when a middleware before us already read the request body. */
export class ConsumedBodyError extends Error {
  constructor() {
    super('the request body was already read by another middleware (a body parser before resumableUploads?)');
    this.name = 'ConsumedBodyError';
  }
}

/** True when some other layer has read from the request already. */
export function bodyAlreadyConsumed(req: IncomingMessage): boolean {
  return req.readableEnded || req.readableDidRead;
}

/** Receives `req`'s content into the data file; resolves once the kept bytes are on stable storage. */
export function receiveContent(req: IncomingMessage, options: ReceiveOptions): Promise<ReceiveResult> {
  const { file, start, maxBytes, checksum } = options;
  const hash: Hash | undefined = checksum === undefined ? undefined : createHash(checksum.algorithm);
  return new Promise<ReceiveResult>((resolve, reject) => {
    const queue: Buffer[] = [];
    let queued = 0;
    let accepted = 0; // bytes taken into the queue (all within maxBytes)
    let written = 0;
    let writing = false;
    let checkpoint = 0; // bytes recorded durably through onCheckpoint
    let flushed = 0; // bytes covered by the last background fdatasync
    let flushing: Promise<void> | undefined;
    let outcome: BodyOutcome | undefined;
    let failure: unknown;
    let idle: NodeJS.Timeout | undefined;
    const started = Date.now();

    const armIdle = (): void => {
      clearTimeout(idle);
      idle = setTimeout(() => stop('idle'), options.idleTimeout);
      idle.unref();
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
    rateCheck?.unref();

    const take = (chunk: Buffer): void => {
      if (outcome !== undefined) return;
      const room = maxBytes - accepted;
      const part = chunk.byteLength > room ? chunk.subarray(0, room) : chunk;
      if (part.byteLength > 0) {
        queue.push(part);
        queued += part.byteLength;
        accepted += part.byteLength;
        hash?.update(part);
        options.contentHash?.update(part);
      }
      if (chunk.byteLength > room) {
        stop('too-large');
        return;
      }
      if (queued > HIGH_WATER) req.pause();
      armIdle();
      void pump();
    };

    const onData = (chunk: Buffer): void => take(chunk);
    const onEnd = (): void => stop('complete');
    const onClose = (): void => stop('aborted');
    const onError = (): void => stop('aborted');

    function stop(reason: BodyOutcome): void {
      if (outcome !== undefined) return;
      // Whatever Node already holds for us has arrived: take it before letting go of the request.
      if (reason !== 'complete' && reason !== 'too-large') {
        let chunk: Buffer | null;
        req.removeListener('data', onData);
        while ((chunk = req.read() as Buffer | null) !== null) take(chunk);
      }
      if (outcome !== undefined) return;
      outcome = reason;
      clearTimeout(idle);
      clearInterval(rateCheck);
      req.removeListener('data', onData);
      req.removeListener('end', onEnd);
      req.removeListener('close', onClose);
      req.removeListener('error', onError);
      req.on('error', ignore);
      if (reason === 'taken-over') req.socket?.destroy();
      else if (reason !== 'complete') req.pause();
      void pump();
    }

    async function pump(): Promise<void> {
      if (writing) return;
      writing = true;
      try {
        while (queue.length > 0 && failure === undefined) {
          // Everything queued goes down in one positioned writev (at most IOV_MAX buffers).
          const batch = queue.splice(0, WRITEV_MAX);
          let size = 0;
          for (const chunk of batch) size += chunk.byteLength;
          queued -= size;
          let done = 0;
          while (done < size) {
            const rest = done === 0 ? batch : remainder(batch, done);
            const { bytesWritten } = await file.writev(rest, start + written + done);
            done += bytesWritten;
          }
          written += size;
          flushInBackground();
          if (queued <= HIGH_WATER / 2 && outcome === undefined && req.isPaused()) req.resume();
        }
      } catch (err) {
        failure ??= err;
        stop('aborted');
      } finally {
        writing = false;
      }
      if (outcome !== undefined && (queue.length === 0 || failure !== undefined) && !writing) await finish();
    }

    /**
     * Starts an fdatasync of what is written so far while the body keeps arriving, so the disk works
     * alongside the network and the final fsync has little left to do. Once durable, every
     * CHECKPOINT_BYTES of it are recorded as the upload's offset (a crash loses at most what follows).
     * Nothing is acknowledged from here: the response waits for the final sync in finish().
     */
    function flushInBackground(): void {
      if (flushing !== undefined || failure !== undefined || outcome !== undefined) return;
      if (written - flushed < FLUSH_BYTES) return;
      const target = written;
      flushing = (async () => {
        await file.datasync();
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

    let finished = false;
    async function finish(): Promise<void> {
      if (finished) return;
      finished = true;
      try {
        // A background flush may still be recording a checkpoint: the final commit comes after it.
        await flushing;
        if (failure !== undefined) throw failure;
        let kept = written;
        let final = outcome as BodyOutcome;
        if (hash !== undefined && checksum !== undefined) {
          const matches = final === 'complete' && hash.digest().equals(checksum.digest);
          // tus "checksum": unverifiable or mismatching bytes are not kept.
          if (!matches) {
            await file.truncate(start);
            kept = 0;
            if (final === 'complete') final = 'checksum-mismatch';
          }
        }
        // fdatasync: the data and the file size, which is all an offset needs.
        await file.datasync();
        resolve({
          outcome: final,
          received: kept,
          contentHashed: options.contentHash !== undefined && kept === accepted,
        });
      } catch (err) {
        reject(err);
      }
    }

    options.onInterrupt(() => stop('taken-over'));
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('close', onClose);
    req.once('error', onError);
    armIdle();
    if (req.readableEnded) stop('complete');
    // The client left while hooks or the lock kept us waiting: keep what Node holds, then stop.
    else if (req.destroyed) stop('aborted');
  });
}

function ignore(): void {}
