/**
 * The demo's generated content. Nothing here is committed: the bytes are a pure function of a fixed seed,
 * so every clone, every CI run and every test produces the same file and the same SHA-256.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { brotliCompressSync } from 'node:zlib';

/** The large download of the demo page, written into the served directory (and ignored by git). */
export const BIG_FILE_NAME = 'big.bin';
export const BIG_FILE_SIZE = 32 * 1024 * 1024;

const SEED = 'range-serve demo v1';

/**
 * Writes `dir/big.bin` (32 MiB of AES-256-CTR keystream from a fixed seed) and `dir/big.bin.sha256`
 * unless both are there at the right size. Written under a temporary name and renamed, so a server
 * or a second process starting at the same time never sees half a file.
 */
export async function ensureBigFile(dir: string): Promise<{ path: string; sha256: string }> {
  const file = path.join(dir, BIG_FILE_NAME);
  const sumFile = `${file}.sha256`;
  if (existsSync(file) && existsSync(sumFile) && statSync(file).size === BIG_FILE_SIZE) {
    return { path: file, sha256: readFileSync(sumFile, 'utf8').split(' ', 1)[0] as string };
  }
  const key = createHash('sha256').update(SEED).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const hash = createHash('sha256');
  const tmp = `${file}.tmp-${process.pid}`;
  const out = createWriteStream(tmp);
  const zeros = Buffer.alloc(1024 * 1024);
  for (let written = 0; written < BIG_FILE_SIZE; written += zeros.length) {
    const chunk = cipher.update(zeros);
    hash.update(chunk);
    if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  out.end();
  await finished(out);
  renameSync(tmp, file);
  const sha256 = hash.digest('hex');
  writeFileSync(`${sumFile}.tmp-${process.pid}`, `${sha256}  ${BIG_FILE_NAME}\n`);
  renameSync(`${sumFile}.tmp-${process.pid}`, sumFile);
  return { path: file, sha256 };
}

/**
 * The body of the demo's `/report.csv` route: about 5 MB of CSV built in memory, the kind of response
 * a route handler sends with `res.send` or `ctx.body` and that range-serve makes resumable.
 */
export function makeReport(): Buffer {
  const lines = ['row,digest,amount'];
  for (let row = 1; row <= 60_000; row++) {
    const digest = createHash('sha256').update(`${SEED} row ${row}`).digest('hex');
    lines.push(`${row},${digest},${((row * 7919) % 100_000) / 100}`);
  }
  return Buffer.from(`${lines.join('\n')}\n`);
}

/** The demo's script that has a precompressed variant beside it. */
export const PRECOMPRESSED_SCRIPT = 'precompressed.js';

/**
 * Writes `dir/precompressed.js.br` from `dir/precompressed.js` unless it is there with the same bytes
 * and not older (a checkout gives files arbitrary mtimes, and range-serve skips a variant older than
 * its original). Returns the variant's bytes.
 */
export function ensurePrecompressedScript(dir: string): Buffer {
  const file = path.join(dir, PRECOMPRESSED_SCRIPT);
  const variant = `${file}.br`;
  const bytes = brotliCompressSync(readFileSync(file));
  const current =
    existsSync(variant) && statSync(variant).mtimeMs >= statSync(file).mtimeMs ? readFileSync(variant) : undefined;
  if (current === undefined || !current.equals(bytes)) {
    writeFileSync(`${variant}.tmp-${process.pid}`, bytes);
    renameSync(`${variant}.tmp-${process.pid}`, variant);
  }
  return bytes;
}
