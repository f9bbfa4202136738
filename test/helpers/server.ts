/** Starts a request listener (an Express app, a Koa app's callback) on 127.0.0.1:0 for the suites. */
import { once } from 'node:events';
import http, { type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RunningServer } from '../conformance/scenarios.ts';

/** Serves `listener` on a fresh port; `close()` ends every connection, hung ones included. */
export function listen(listener: RequestListener): Promise<RunningServer> {
  return running(http.createServer(listener).listen(0, '127.0.0.1'));
}

/** `server`, once it listens, as a running server whose `close()` ends every connection, hung ones included. */
export async function running(server: http.Server): Promise<RunningServer> {
  if (!server.listening) await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
