/**
 * What HTTP/2 changes in writing a body onto a response of Node's compatibility API
 * (`http2.createSecureServer(options, handler)`, Koa's `app.callback()` on it). The answers are the same;
 * the stream underneath is not a socket of its own:
 *
 * - A client cancels a stream with RST_STREAM (RFC 9113 §6.4) and keeps the connection: a player that
 *   seeks cancels one range after another on it. Node counts every byte written to a stream and not yet
 *   framed against the session's memory bound (`maxSessionMemory`, 10 MB by default), and when the
 *   stream is reset it drops what was still queued without giving the count back (Node 20 to 26); once
 *   the count passes the bound, the session refuses every new stream with ENHANCE_YOUR_CALM. What can
 *   be queued and not framed is what exceeds the stream's flow-control window (§6.9.2), so a body is
 *   written in pieces of at most the peer's initial window, capped at the protocol's default window: a
 *   cancelled stream then leaves at most one such piece behind, and usually nothing, where a 512 KiB
 *   read left up to 512 KiB.
 * - The reset is seen on the stream at once (`'aborted'`, and the stream is destroyed); the response's
 *   own `'close'` comes a tick later. Nothing more is read for a stream that is gone.
 */
import type { ServerHttp2Stream } from 'node:http2';

/** RFC 9113 §6.9.2: the initial flow-control window of every stream until a peer's SETTINGS say otherwise. */
const DEFAULT_WINDOW = 65_535;
/** RFC 9113 §4.2: the frame size every peer accepts; smaller pieces would only add writes. */
const SMALLEST_WRITE = 16_384;

/** The HTTP/2 stream under a response of Node's compatibility API, or undefined for an HTTP/1.1 response. */
export function http2StreamOf(res: object | undefined): ServerHttp2Stream | undefined {
  const stream = (res as { stream?: unknown } | undefined)?.stream;
  if (typeof stream !== 'object' || stream === null || !('session' in stream) || !('respond' in stream)) {
    return undefined;
  }
  return stream as ServerHttp2Stream;
}

/** Whether `res` can no longer be written: its socket, or its HTTP/2 stream, is gone. */
export function responseGone(res: object): boolean {
  if ((res as { destroyed?: unknown }).destroyed === true) return true;
  const stream = http2StreamOf(res);
  return stream !== undefined && (stream.destroyed || stream.closed);
}

/**
 * The largest piece to write on `res` at a time: `readSize` over HTTP/1.1; over HTTP/2, no more than the
 * peer's initial stream window nor the protocol's default window (see the file's comment).
 */
export function writeSizeFor(res: object | undefined, readSize: number): number {
  const stream = http2StreamOf(res);
  if (stream === undefined) return readSize;
  const window = stream.session?.remoteSettings.initialWindowSize ?? DEFAULT_WINDOW;
  return Math.min(readSize, Math.max(SMALLEST_WRITE, Math.min(window, DEFAULT_WINDOW)));
}

/**
 * Calls `onReset` when the client resets the HTTP/2 stream under `res` (or it closes otherwise), the
 * moment Node learns of it; returns the function that stops listening. Nothing for HTTP/1.1.
 */
export function onStreamReset(res: object, onReset: () => void): () => void {
  const stream = http2StreamOf(res);
  if (stream === undefined) return noop;
  stream.once('aborted', onReset);
  stream.once('close', onReset);
  return () => {
    stream.off('aborted', onReset);
    stream.off('close', onReset);
  };
}

function noop(): void {}
