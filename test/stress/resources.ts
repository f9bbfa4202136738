/** What the stress tests measure of this process: open descriptors, resident memory, live sockets. */
import { readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Open file descriptors of this process (entries of /proc/self/fd). */
export function fdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Resident set size in MiB. */
export function rssMiB(): number {
  return process.memoryUsage.rss() / (1024 * 1024);
}

/**
 * Resident memory outside V8's heap, in MiB: RSS less the heap V8 has committed (`heapTotal`). From Node 22
 * on, V8 grows its young generation under allocation pressure and keeps it (measured on Node 24: heapTotal
 * about 150 MiB against Node 20's 50 within seconds of a soak's start, the live heap after a GC flat at
 * 20). That is the JS heap's, which the live-heap checks cover; what is left is where a native leak
 * (sockets, buffers, zlib contexts, descriptors' state) would grow.
 */
export function outsideHeapMiB(): number {
  const { rss, heapTotal } = process.memoryUsage();
  return (rss - heapTotal) / (1024 * 1024);
}

/** Live handles by type (TCPSocketWrap, FSReqCallback, ...), from Node's own accounting. */
export function activeResources(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of process.getActiveResourcesInfo()) out[name] = (out[name] ?? 0) + 1;
  return out;
}

/** Runs a full garbage collection when the process was started with --expose-gc. */
export function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
}

/** Polls until `ok()` or `ms` elapse; returns whether it held. */
export async function eventually(ok: () => boolean, ms = 5_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) return false;
    await sleep(50);
  }
  return true;
}

/** The median of `values`. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
