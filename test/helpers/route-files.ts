/**
 * Paths a route may be asked to send, for the tests of what reaches a framework's own error handling:
 * a file, a large file to abandon mid-body, a directory, a FIFO, a symbolic link and a missing name.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** The paths, and `remove()` for the tree. */
export interface RouteFiles {
  readonly dir: string;
  readonly file: string;
  readonly big: string;
  readonly bigSize: number;
  readonly directory: string;
  readonly fifo: string;
  readonly link: string;
  readonly missing: string;
  remove(): void;
}

/** Makes the tree in a fresh temporary directory. */
export function makeRouteFiles(bigSize = 32 * 1024 * 1024): RouteFiles {
  const dir = mkdtempSync(path.join(tmpdir(), 'range-serve-route-'));
  const file = path.join(dir, 'a.txt');
  writeFileSync(file, 'a file a route sends\n');
  const big = path.join(dir, 'big.bin');
  writeFileSync(big, randomBytes(bigSize));
  const directory = path.join(dir, 'sub');
  mkdirSync(directory);
  const fifo = path.join(dir, 'pipe');
  execFileSync('mkfifo', [fifo]);
  const link = path.join(dir, 'link.txt');
  symlinkSync(file, link);
  return {
    dir,
    file,
    big,
    bigSize,
    directory,
    fifo,
    link,
    missing: path.join(dir, 'missing.txt'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
