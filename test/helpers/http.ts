/** Raw node:http requests for the adapter suites: the request-target is sent exactly as given. */
import http, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';

/** A response as received: status, Node's lowercase headers and every body byte. */
export interface RawResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** Sends one request to `baseUrl` with `target` as the raw request-target, and collects the response. */
export function request(
  baseUrl: string,
  target: string,
  options: { method?: string; headers?: OutgoingHttpHeaders } = {},
): Promise<RawResponse> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: options.method ?? 'GET',
        path: target,
        headers: options.headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}
