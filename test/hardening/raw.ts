/**
 * Raw HTTP/1.1 over a plain TCP socket, for requests node:http refuses to send (control bytes, repeated
 * fields, unencoded targets) and for responses whose every byte must be counted.
 */
import net from 'node:net';

/** A response as read off the socket; `complete` is false when the body is shorter than announced. */
export interface RawReply {
  readonly status: number;
  /** Lowercase field names; repeated fields joined with `, `. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  /** The body length equals Content-Length (or the response has no Content-Length). */
  readonly complete: boolean;
  /** Every byte received, head included. */
  readonly raw: Buffer;
}

/** One header line of a request: the value is sent byte for byte (latin1 for strings). */
export type HeaderLine = readonly [name: string, value: string | Buffer];

/** The bytes of a GET (or `method`) for `target` with `Host` and `Connection: close` and the given lines. */
export function buildRequest(target: string | Buffer, lines: readonly HeaderLine[] = [], method = 'GET'): Buffer {
  const parts: Buffer[] = [Buffer.from(`${method} `, 'latin1'), Buffer.from(target as string, 'latin1')];
  parts.push(Buffer.from(' HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n', 'latin1'));
  for (const [name, value] of lines) {
    parts.push(Buffer.from(`${name}: `, 'latin1'), typeof value === 'string' ? Buffer.from(value, 'latin1') : value);
    parts.push(Buffer.from('\r\n', 'latin1'));
  }
  parts.push(Buffer.from('\r\n', 'latin1'));
  return Buffer.concat(parts);
}

/** Sends `request` and reads until the server closes the connection (it was asked to). */
export function exchange(baseUrl: string, request: Buffer, timeoutMs = 15_000): Promise<RawReply> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(Number(url.port), url.hostname, () => socket.write(request));
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    // Not half-closed after the request: Node aborts a pending response when the client sends FIN.
    // A reset after a complete response (the server closing while unread request bytes remain) is not an error.
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      try {
        resolve(parseReply(Buffer.concat(chunks)));
      } catch (err) {
        reject(err);
      }
    });
  });
}

/** Parses one HTTP/1.1 response (status line, fields, the rest as body). */
export function parseReply(raw: Buffer): RawReply {
  const end = raw.indexOf('\r\n\r\n');
  if (end === -1) throw new Error(`no response head in ${JSON.stringify(raw.subarray(0, 200).toString('latin1'))}`);
  const lines = raw.subarray(0, end).toString('latin1').split('\r\n');
  const statusLine = /^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? '');
  if (statusLine === null) throw new Error(`bad status line ${JSON.stringify(lines[0])}`);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  const body = raw.subarray(end + 4);
  const length = headers['content-length'];
  return {
    status: Number(statusLine[1]),
    headers,
    body,
    complete: length === undefined || Number(length) === body.length,
    raw,
  };
}
