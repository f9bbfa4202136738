/**
 * What HTTP/2 changes in writing a body onto a response of Node's compatibility API
 * (`http2.createSecureServer(options, handler)`, Koa's `app.callback()` on it). The answers are the same;
 * the stream underneath is not a socket of its own: a client cancels a stream with RST_STREAM
 * (RFC 9113 §6.4) and keeps the connection, and the response is not `destroyed` the moment its stream is.
 */
import type { ServerHttp2Stream } from 'node:http2';

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
