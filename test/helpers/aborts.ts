/**
 * Clients that go away in the middle of a download, as real ones do: a socket closed with bytes still
 * unread (the kernel sends RST), a socket that closes its own side (FIN) and reads to the end, an
 * HTTP/2 stream cancelled (RST_STREAM), and aria2c's segmented download, which drops connections as
 * its segments meet.
 */
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireTool, runOk, sha256File } from '../e2e/clients.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** A self-signed certificate for 127.0.0.1 and localhost, for HTTP/2 over TLS on loopback. */
export const LOCALHOST_TLS = {
  key: readFileSync(path.join(HERE, 'tls', 'localhost-key.pem')),
  cert: readFileSync(path.join(HERE, 'tls', 'localhost-cert.pem')),
};

/** How far into the body a client goes before it leaves: well past the headers, well short of the end. */
const LEAVE_AFTER = 256 * 1024;

/**
 * GETs `target` on a raw socket and leaves mid-body: `'reset'` destroys the socket with bytes unread
 * (RST), `'close'` ends its own side (FIN) and reads what comes until the server closes. Resolves once the
 * socket is closed, with the body bytes it had received (at least {@link LEAVE_AFTER}).
 */
export function leaveMidBody(baseUrl: string, target: string, how: 'reset' | 'close'): Promise<number> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname);
    let received = 0;
    let left = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`GET ${target}: the download neither started nor ended within 10 s`));
    }, 10_000);
    socket.on('error', () => {});
    socket.on('connect', () => socket.write(`GET ${target} HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (left || received < LEAVE_AFTER) return;
      left = true;
      if (how === 'reset') socket.destroy();
      else socket.end();
    });
    socket.on('end', () => socket.destroy());
    socket.on('close', () => {
      clearTimeout(timer);
      if (received < LEAVE_AFTER) reject(new Error(`GET ${target}: only ${received} bytes before the server closed`));
      else resolve(received);
    });
  });
}

/** Opens `count` HTTP/2 streams for `target` one after another, each cancelled (RST_STREAM CANCEL) after its first body bytes. */
export async function cancelH2Streams(baseUrl: string, target: string, count: number): Promise<void> {
  const session = http2.connect(baseUrl, { ca: LOCALHOST_TLS.cert });
  session.on('error', () => {});
  try {
    for (let i = 0; i < count; i++) {
      await new Promise<void>((resolve, reject) => {
        const stream = session.request({ ':path': target });
        const timer = setTimeout(() => reject(new Error(`HTTP/2 GET ${target}: no body within 10 s`)), 10_000);
        stream.on('error', () => {});
        stream.once('data', () => {
          clearTimeout(timer);
          stream.close(http2.constants.NGHTTP2_CANCEL);
          resolve();
        });
      });
    }
  } finally {
    session.close();
  }
}

/** Downloads `url` with `aria2c -x4 -s4 -k1M` into `dir` and returns the hex SHA-256 of the file it assembled. */
export async function aria2Download(url: string, dir: string, name: string): Promise<string> {
  requireTool('aria2c');
  const args = ['-x4', '-s4', '-k1M', '-q', '--allow-overwrite=true', '--file-allocation=none', '-d', dir, '-o', name];
  await runOk('aria2c', [...args, url], { timeoutMs: 60_000 });
  return sha256File(path.join(dir, name));
}
