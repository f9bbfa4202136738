/**
 * One process owns an upload directory when there is no Redis: its locks and state cache live in its
 * memory, so a second live process on the same directory would corrupt uploads. The owner file
 * `.range-serve-owner` names the owner's host and pid and is touched every {@link HEARTBEAT} ms; a
 * process starting on the directory refuses with a {@link DirectoryOwnedError} while the owner lives: on the same host, its pid answers signal 0; on another host (a shared volume), its file
 * was touched within {@link STALE} ms. A dead owner's file is taken over.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { open, readFile, rename, rm, utimes } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const OWNER_FILE = '.range-serve-owner';
/** How often the owner touches its file. */
const HEARTBEAT = 10_000;
/** A file from another host not touched for this long belongs to a process that is gone. */
const STALE = 3 * HEARTBEAT;

interface Owner {
  readonly host: string;
  readonly pid: number;
}

/** Raised at start-up when another live process owns the upload directory. */
export class DirectoryOwnedError extends Error {
  constructor(directory: string, owner: Owner, hint: string) {
    super(
      `the upload directory ${directory} is in use by process ${owner.pid} on ${owner.host}; ` +
        `one process owns a directory unless every process sharing it is given the same \`redis\`${hint}`,
    );
    this.name = 'DirectoryOwnedError';
  }
}

/**
 * This machine's name. Deno denies it without `--allow-sys=hostname`: the owner file then names
 * `unknown`, and only the pid and heartbeat checks apply among such processes.
 */
function hostname(): string {
  try {
    return os.hostname();
  } catch {
    return 'unknown';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readOwner(file: string): Promise<{ owner: Owner; touched: number } | undefined> {
  try {
    const [text, stat] = await Promise.all([readFile(file, 'utf8'), fs.promises.lstat(file)]);
    const value = JSON.parse(text) as Partial<Owner>;
    if (typeof value.host !== 'string' || !Number.isSafeInteger(value.pid)) return undefined;
    return { owner: { host: value.host, pid: value.pid as number }, touched: stat.mtimeMs };
  } catch {
    return undefined;
  }
}

/** The live owner of `directory` other than this process, if any. */
async function liveOwner(directory: string): Promise<Owner | undefined> {
  const found = await readOwner(path.join(directory, OWNER_FILE));
  if (found === undefined) return undefined;
  const { owner, touched } = found;
  if (owner.host === hostname()) return owner.pid !== process.pid && alive(owner.pid) ? owner : undefined;
  return Date.now() - touched < STALE ? owner : undefined;
}

/** Refuses (throws {@link DirectoryOwnedError}) when a live single-process owner holds `directory`. */
export async function assertNoLiveOwner(directory: string): Promise<void> {
  const owner = await liveOwner(directory);
  if (owner !== undefined) throw new DirectoryOwnedError(directory, owner, ' (it runs without one)');
}

/** This process's claim on a directory: {@link OwnerClaim.release} stops the heartbeat and removes the file. */
export interface OwnerClaim {
  release(): void;
}

/**
 * Claims `directory` for this process, or throws {@link DirectoryOwnedError} while another live
 * process owns it. The file is written whole (temporary file, rename), then touched on a timer.
 */
export async function claimDirectory(directory: string): Promise<OwnerClaim> {
  const file = path.join(directory, OWNER_FILE);
  const owner = await liveOwner(directory);
  if (owner !== undefined) throw new DirectoryOwnedError(directory, owner, '');
  const me: Owner = { host: hostname(), pid: process.pid };
  const temporary = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temporary, 'w', 0o644);
  try {
    await handle.writeFile(`${JSON.stringify(me)}\n`);
  } finally {
    await handle.close();
  }
  await rename(temporary, file);
  const timer = setInterval(() => {
    const now = new Date();
    utimes(file, now, now).catch(() => {});
  }, HEARTBEAT);
  timer.unref?.();
  let released = false;
  return {
    release: () => {
      if (released) return;
      released = true;
      clearInterval(timer);
      // Only our own file: a later owner's is left alone.
      void readOwner(file).then((found) => {
        if (found?.owner.pid === me.pid && found.owner.host === me.host) return rm(file, { force: true });
        return undefined;
      });
    },
  };
}
