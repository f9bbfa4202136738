/**
 * A loopback TCP proxy the test controls: it forwards every connection to the app, counts the bytes
 * sent towards the app, and, once armed, destroys every connection when a given number of bytes has
 * crossed it. A cut here is a dropped connection as a client sees one on a train, not an `abort()`.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';

/** A started proxy. */
export interface CuttingProxy {
  /** `http://127.0.0.1:<port>`, without a trailing slash. */
  readonly origin: string;
  /** Bytes forwarded from clients to the app since the proxy started. */
  bytesToServer(): number;
  /** Destroys every connection once `bytes` more have been forwarded to the app (once). */
  cutAfter(bytes: number): void;
  /**
   * Destroys only the connection that carries the byte `bytes` more from now (once), both its sides:
   * one of several parallel requests loses its connection, the others go on.
   */
  cutOneAfter(bytes: number): void;
  /** Resolves when an armed cut has happened. */
  readonly cut: () => Promise<void>;
  close(): Promise<void>;
}

/** Starts a proxy on 127.0.0.1, port 0, in front of the app listening on 127.0.0.1:`targetPort`. */
export async function startCuttingProxy(targetPort: number): Promise<CuttingProxy> {
  const sockets = new Set<net.Socket>();
  let forwarded = 0;
  let cutAt: number | undefined;
  let cutAll = true;
  let onCut: (() => void) | undefined;
  let cutDone: Promise<void> = Promise.resolve();

  const destroyAll = (): void => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  };

  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.once('close', () => sockets.delete(socket));
    }
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
    upstream.pipe(client);
    client.on('data', (chunk: Buffer) => {
      let piece = chunk;
      const limit = cutAt;
      if (limit !== undefined && forwarded + piece.length >= limit) piece = piece.subarray(0, limit - forwarded);
      forwarded += piece.length;
      const flushed = upstream.write(piece);
      if (limit !== undefined && forwarded >= limit) {
        cutAt = undefined;
        client.pause();
        // Let the piece that reached the limit leave first, then drop both sides of every connection
        // (or of this one only).
        upstream.write('', () => {
          if (cutAll) destroyAll();
          else {
            client.destroy();
            upstream.destroy();
          }
          onCut?.();
        });
        return;
      }
      if (!flushed) {
        client.pause();
        upstream.once('drain', () => client.resume());
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    bytesToServer: () => forwarded,
    cutAfter(bytes) {
      cutAt = forwarded + bytes;
      cutAll = true;
      cutDone = new Promise<void>((resolve) => (onCut = resolve));
    },
    cutOneAfter(bytes) {
      cutAt = forwarded + bytes;
      cutAll = false;
      cutDone = new Promise<void>((resolve) => (onCut = resolve));
    },
    cut: () => cutDone,
    close: () =>
      new Promise<void>((resolve) => {
        destroyAll();
        server.close(() => resolve());
      }),
  };
}
