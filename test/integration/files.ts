/**
 * The files every integration stack serves: two large enough for compression to compress (over 64 KiB,
 * one text, one `.bin`), a small one that compression still compresses (over its 1 KiB threshold), and
 * a 4 MiB download that clients abandon mid-body.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** The names of the served files. */
export const FILE_NAMES = ['large.txt', 'large.bin', 'small.txt', 'big.bin'] as const;

/** One served file's name. */
export type FileName = (typeof FILE_NAMES)[number];

/** The served directory and each file's bytes. */
export interface ServedFiles {
  readonly root: string;
  readonly bytes: Readonly<Record<FileName, Buffer>>;
  remove(): void;
}

/** The same pseudo-random bytes on every run (mulberry32 from `seed`), so a failure reproduces. */
function pseudoRandomBytes(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  let state = seed >>> 0;
  for (let i = 0; i < length; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (t ^ (t >>> 14)) & 0xff;
  }
  return out;
}

/** Text that compresses like prose and source do: numbered lines of words, some of them random. */
function text(size: number, seed: number): Buffer {
  const noise = pseudoRandomBytes(size, seed);
  const words = ['range', 'serve', 'partial', 'content', 'validator', 'entity', 'tag', 'resume', 'byte'];
  const lines: string[] = [];
  let length = 0;
  for (let n = 0; length < size; n++) {
    const line = `${String(n).padStart(6, '0')} ${words[n % words.length]} ${noise.subarray(n * 6, n * 6 + 6).toString('hex')} ${words[(n * 7) % words.length]}\n`;
    lines.push(line);
    length += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, size);
}

/** Binary data that compresses by about half: pseudo-random 64-byte blocks, each written twice. */
function binary(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  const noise = pseudoRandomBytes(Math.ceil(size / 2) + 64, seed);
  for (let offset = 0; offset < size; offset += 128) {
    const block = noise.subarray(offset / 2, offset / 2 + 64);
    block.copy(out, offset);
    block.copy(out, offset + 64);
  }
  return out;
}

/** Writes the files into a fresh temporary directory. */
export function makeServedFiles(): ServedFiles {
  const root = mkdtempSync(path.join(tmpdir(), 'range-serve-integration-'));
  const bytes: Record<FileName, Buffer> = {
    'large.txt': text(256 * 1024 + 17, 1),
    'large.bin': binary(192 * 1024 + 5, 2),
    'small.txt': text(8 * 1024 + 3, 3),
    'big.bin': binary(4 * 1024 * 1024, 4),
  };
  for (const name of FILE_NAMES) writeFileSync(path.join(root, name), bytes[name]);
  return { root, bytes, remove: () => rmSync(root, { recursive: true, force: true }) };
}
