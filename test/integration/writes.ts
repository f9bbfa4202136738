/** Handler bodies written over time: chunks on later turns of the event loop, or from timers. */
/**
 * Sends `body` in at least four writes of at most 32 KiB, each scheduled by `schedule` after the one
 * before, the last one by `end`; stops if the client left.
 */
export function writeInChunks(
  res: { destroyed: boolean; write(chunk: Buffer): boolean; end(chunk: Buffer): unknown },
  body: Buffer,
  schedule: (next: () => void) => void,
): void {
  const CHUNK = Math.min(32 * 1024, Math.ceil(body.length / 4));
  let offset = 0;
  const step = (): void => {
    if (res.destroyed) return;
    if (offset + CHUNK >= body.length) {
      res.end(body.subarray(offset));
      return;
    }
    res.write(body.subarray(offset, offset + CHUNK));
    offset += CHUNK;
    schedule(step);
  };
  step();
}

/** Runs `next` on the next turn of the event loop. */
export const nextTurn = (next: () => void): void => {
  setImmediate(next);
};

/** Runs `next` from a timer a millisecond later. */
export const nextTimer = (next: () => void): void => {
  setTimeout(next, 1);
};
