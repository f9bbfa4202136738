/**
 * multipart/byteranges (RFC 9110 §14.6): the boundary, each part's preamble and the exact length of the
 * whole body, computed before the first byte is sent.
 */
import { randomFillSync } from 'node:crypto';
import type { ByteRange } from './range.js';

/** One part of a multipart/byteranges body: the text before its bytes and the span it frames. */
export interface MultipartPart {
  /** Delimiter and part header fields, CRLF-terminated, ASCII. */
  readonly preamble: string;
  readonly range: ByteRange;
}

/** The framing of a multipart/byteranges body. */
export interface MultipartLayout {
  readonly boundary: string;
  readonly parts: readonly MultipartPart[];
  /** The close-delimiter that ends the body. */
  readonly epilogue: string;
  /** Exact length of the body in bytes: every preamble, every span and the epilogue. */
  readonly length: number;
}

/** Random bytes drawn from the system's generator a page at a time: one call per 256 boundaries, not one each. */
const entropy = Buffer.alloc(4096);
let entropyAt = entropy.length;

/** A fresh random boundary: 32 hex digits, within RFC 2046's 70-character limit and never quoted. */
export function randomBoundary(): string {
  if (entropyAt + 16 > entropy.length) {
    randomFillSync(entropy);
    entropyAt = 0;
  }
  const boundary = entropy.toString('hex', entropyAt, entropyAt + 16);
  entropyAt += 16;
  return boundary;
}

/**
 * Lays out a multipart/byteranges body (§14.6): a delimiter line before each part, then its
 * Content-Type (when known) and Content-Range, an empty line, the bytes, and a close-delimiter.
 * `contains` tells whether the framed content holds a candidate boundary, so that one can be avoided.
 */
export function multipartLayout(
  ranges: readonly ByteRange[],
  size: number,
  contentType: string | undefined,
  contains: (boundary: string) => boolean = () => false,
): MultipartLayout {
  let boundary = randomBoundary();
  // RFC 2046 §5.1.1: the boundary must not occur in the encapsulated parts, headers included.
  while (contentType?.includes(boundary) || contains(boundary)) {
    boundary = randomBoundary();
  }
  const typeLine = contentType === undefined ? '' : `Content-Type: ${contentType}\r\n`;
  let length = 0;
  const parts = ranges.map((range, i) => {
    const preamble = `${i === 0 ? '' : '\r\n'}--${boundary}\r\n${typeLine}Content-Range: bytes ${range.start}-${range.end}/${size}\r\n\r\n`;
    // §8.6: Content-Length counts the bytes sent, and the body writes preambles as latin1 (as Node writes header fields).
    length += Buffer.byteLength(preamble, 'latin1') + (range.end - range.start + 1);
    return { preamble, range };
  });
  const epilogue = `\r\n--${boundary}--\r\n`;
  length += epilogue.length;
  return { boundary, parts, epilogue, length };
}
