/**
 * HTTP/2 for the suites: the test certificate in `tls/`, servers on
 * `http2.createSecureServer({ allowHTTP1: true })` at 127.0.0.1:0, and a node:http2 client that sends one
 * request on a session kept per server (as a browser multiplexes on one connection).
 */
import { once } from 'node:events';
import http2, { type Http2ServerRequest, type Http2ServerResponse, type SecureServerOptions } from 'node:http2';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunningServer } from '../conformance/scenarios.ts';
import { LOCALHOST_TLS } from './aborts.ts';
import type { RawResponse } from './http.ts';

/** The key and self-signed certificate for 127.0.0.1 and localhost kept in `test/helpers/tls/`. */
export interface TestCertificate {
  readonly key: Buffer;
  readonly cert: Buffer;
  /** Where they are on disk (for servers started as other processes, and browsers told to trust them). */
  readonly keyPath: string;
  readonly certPath: string;
}

const TLS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'tls');

/** The test certificate (the one `aborts.ts` serves too), with its paths. */
export function testCertificate(): TestCertificate {
  const keyPath = path.join(TLS_DIR, 'localhost-key.pem');
  const certPath = path.join(TLS_DIR, 'localhost-cert.pem');
  return { key: LOCALHOST_TLS.key, cert: LOCALHOST_TLS.cert, keyPath, certPath };
}

/** A server that speaks HTTP/2 (and HTTP/1.1 over TLS); its clients should use {@link requestHttp2}. */
export interface RunningHttp2Server extends RunningServer {
  readonly http2: true;
  /** The underlying server, for tests that watch its sessions. */
  readonly server: http2.Http2SecureServer;
}

/** Node's compatibility-API handler, as `http2.createSecureServer(options, handler)` takes it. */
export type Http2Listener = (req: Http2ServerRequest, res: Http2ServerResponse) => void;

/**
 * Serves `listener` over TLS with HTTP/2 (and HTTP/1.1 for clients that ask for it) on a fresh port;
 * `close()` destroys every session and connection, hung ones included.
 */
export async function listenHttp2(
  listener: Http2Listener,
  options: SecureServerOptions = {},
): Promise<RunningHttp2Server> {
  const { key, cert } = testCertificate();
  const server = http2.createSecureServer({ allowHTTP1: true, key, cert, ...options }, listener);
  const sockets = new Set<import('node:net').Socket>();
  server.on('secureConnection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const baseUrl = `https://127.0.0.1:${port}`;
  return {
    baseUrl,
    http2: true,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        closeClientSession(baseUrl);
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

const sessions = new Map<string, http2.ClientHttp2Session>();

/** The client session kept for `baseUrl`, connected on first use and again after it closed. */
export function clientSession(baseUrl: string): http2.ClientHttp2Session {
  const kept = sessions.get(baseUrl);
  if (kept !== undefined && !kept.closed && !kept.destroyed) return kept;
  const session = http2.connect(baseUrl, { ca: LOCALHOST_TLS.cert });
  // A session error also fails the streams on it; the requests report it.
  session.on('error', () => {});
  session.on('close', () => {
    if (sessions.get(baseUrl) === session) sessions.delete(baseUrl);
  });
  session.unref();
  sessions.set(baseUrl, session);
  return session;
}

/** Closes the client session kept for `baseUrl`, if any. */
export function closeClientSession(baseUrl: string): void {
  sessions.get(baseUrl)?.destroy();
  sessions.delete(baseUrl);
}

/**
 * Sends one request with `target` as its `:path` on the session kept for `baseUrl`, and collects the
 * response: `:status` as the status, the other fields as Node gives them, every body byte. A stream the
 * server resets rejects with Node's stream error (its message names the code).
 */
export function requestHttp2(
  baseUrl: string,
  target: string,
  options: { method?: string; headers?: OutgoingHttpHeaders } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const method = options.method ?? 'GET';
    const stream = clientSession(baseUrl).request(
      { ...options.headers, ':method': method, ':path': target },
      { endStream: true },
    );
    stream.on('error', reject);
    let status = 0;
    let headers: IncomingHttpHeaders = {};
    stream.on('response', (fields) => {
      status = Number(fields[':status']);
      headers = {};
      for (const [name, value] of Object.entries(fields)) {
        if (!name.startsWith(':')) (headers as Record<string, unknown>)[name] = value;
      }
    });
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve({ status, headers, body: Buffer.concat(chunks) }));
  });
}
