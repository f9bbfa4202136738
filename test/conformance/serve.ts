/** Servers per describe block for the conformance cases, and raw requests to them (HTTP/1.1 or HTTP/2). */
import type { IncomingHttpHeaders } from 'node:http';
import { after, before } from 'node:test';
import { type RawResponse, request } from '../helpers/http.ts';
import { requestHttp2 } from '../helpers/http2.ts';
import type { RunningServer, ServerFactory, ServerSetup } from './scenarios.ts';

/** `serve(setup)` starts a server from `factory` around the tests of one describe block; `get` asks it. */
export function servedBy(factory: ServerFactory) {
  function serve(setup: () => ServerSetup): () => RunningServer {
    let server: RunningServer | undefined;
    before(async () => {
      server = await factory(setup());
    });
    after(async () => server?.close());
    return () => server as RunningServer;
  }
  const get = (
    s: () => RunningServer,
    target: string,
    headers: IncomingHttpHeaders = {},
    method = 'GET',
  ): Promise<RawResponse> => {
    const server = s();
    const send = server.http2 === true ? requestHttp2 : request;
    return send(server.baseUrl, target, { method, headers });
  };
  return { serve, get };
}
