/**
 * A download whose reading the test controls: it connects, sends a GET, and reads only when told to,
 * so the server's writes back up and the test can act on the file mid-body.
 */
import net from 'node:net';
import { buildRequest, type HeaderLine, parseReply, type RawReply } from './raw.ts';

export class Download {
  private readonly socket: net.Socket;
  private readonly chunks: Buffer[] = [];
  private received = 0;
  private waiters: (() => void)[] = [];
  /** Resolves when the connection is closed, by either side. */
  readonly closed: Promise<void>;
  /** The socket error that ended the connection, if one did (a reset when the server destroys it). */
  error: Error | undefined;

  constructor(baseUrl: string, target: string, lines: readonly HeaderLine[] = []) {
    const url = new URL(baseUrl);
    this.socket = net.connect(Number(url.port), url.hostname, () => this.socket.write(buildRequest(target, lines)));
    this.socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.received += chunk.length;
      this.notify();
    });
    this.socket.on('error', (err) => {
      this.error = err;
    });
    this.closed = new Promise((resolve) => this.socket.on('close', () => resolve()));
    void this.closed.then(() => this.notify());
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Bytes received so far, head included. */
  get bytes(): number {
    return this.received;
  }

  /** Reads until at least `n` bytes (head included) have arrived or the connection closed, then stops reading. */
  async readAtLeast(n: number): Promise<void> {
    this.socket.resume();
    while (this.received < n && !this.socket.destroyed) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    this.socket.pause();
  }

  /** Reads to the end of the connection and parses what came. */
  async finish(): Promise<RawReply> {
    this.socket.resume();
    await this.closed;
    return parseReply(Buffer.concat(this.chunks));
  }

  /** Stops reading. */
  pause(): void {
    this.socket.pause();
  }

  /** Closes the connection from the client side at once. */
  abort(): void {
    this.socket.destroy();
  }
}
