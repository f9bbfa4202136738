/**
 * The fetch adapter's side of the conformance suite: a Hono app on @hono/node-server, the directory
 * mounted with the three-line middleware of the docs, each route scenario a Web-standard handler
 * (`withRanges` around the handlers that make their own body, `sendRange` for the others).
 */
import type { ServerResponse } from 'node:http';
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import {
  bytesRepresentation,
  openFile,
  openVariant,
  type SendRangeOptions,
  streamRepresentation,
} from '@range-serve/core';
import { type FetchRangeOptions, rangeServe, sendRange, withRanges } from '@range-serve/fetch';
import { Hono } from 'hono';
import {
  BODY,
  DOWNLOAD_NAME,
  GZIP_BODY,
  type HostBehaviour,
  JSON_BODY,
  OWN_ETAG,
  OWN_LAST_MODIFIED,
  type Scenario,
  type ServerFactory,
  type ServerSetup,
  STORE_FAILS_AT,
  storeRepresentation,
  TEXT,
} from '../conformance/scenarios.ts';
import { running } from '../helpers/server.ts';

type Handler = (request: Request) => Response | Promise<Response>;

/** A stream that hands over `chunks` one timer tick apart, as a handler producing its body bit by bit does. */
export function slowWebStream(chunks: readonly Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      const chunk = chunks[i++];
      if (chunk === undefined) controller.close();
      else controller.enqueue(chunk);
    },
  });
}

function routes(setup: ServerSetup): Record<Scenario, Handler> {
  const file = setup.fileForSendRange ?? '';
  const options = fetchOptions(setup.options);
  const sendOptions = fetchOptions(setup.sendRangeOptions);
  const ranged = (handler: Handler): Handler => withRanges(handler, options);
  const text = { 'content-type': 'text/plain' };
  return {
    buffer: ranged(() => new Response(BODY, { headers: { 'content-type': 'application/octet-stream' } })),
    string: ranged(() => new Response(TEXT)),
    json: ranged(() => Response.json(JSON_BODY)),
    'end-chunk': ranged(() => new Response(BODY, { headers: text })),
    'chunked-with-length': ranged(
      () =>
        new Response(slowWebStream([BODY.subarray(0, 10), BODY.subarray(10, 30), BODY.subarray(30)]), {
          headers: { ...text, 'content-length': String(BODY.length) },
        }),
    ),
    'gzip-encoded': ranged(
      () => new Response(GZIP_BODY, { headers: { 'content-encoding': 'gzip', 'content-type': 'text/plain' } }),
    ),
    'own-etag': ranged(() => new Response(BODY, { headers: { etag: OWN_ETAG, 'last-modified': OWN_LAST_MODIFIED } })),
    'not-200': ranged(() => new Response(BODY, { status: 201 })),
    'unknown-length': ranged(
      () => new Response(slowWebStream([BODY.subarray(0, 20), BODY.subarray(20)]), { headers: text }),
    ),
    'has-content-range': ranged(
      () => new Response('abcd', { headers: { 'content-range': 'bytes 0-3/10', 'content-length': '4' } }),
    ),
    'send-range-file': async (request) => sendRange(request, await openFile(file), sendOptions),
    'send-range-bytes': (request) =>
      sendRange(request, bytesRepresentation(BODY, { contentType: 'text/plain' }), sendOptions),
    'send-range-stream': (request) =>
      sendRange(
        request,
        streamRepresentation(
          slowWebStream([BODY.subarray(0, 7), BODY.subarray(7, 30), BODY.subarray(30)]),
          BODY.length,
          { contentType: 'text/plain' },
        ),
        sendOptions,
      ),
    'send-range-download': async (request) =>
      sendRange(request, await openFile(file), { ...sendOptions, download: DOWNLOAD_NAME }),
    'send-range-store': (request) => sendRange(request, storeRepresentation(), sendOptions),
    'send-range-unreadable': (request) => sendRange(request, storeRepresentation({ failAt: 0 })),
    'send-range-fails-later': (request) => sendRange(request, storeRepresentation({ failAt: STORE_FAILS_AT })),
    'send-range-variant': async (request) =>
      sendRange(request, await openVariant(file, headerRecord(request)), sendOptions),
  };
}

function headerRecord(request: Request): Record<string, string> {
  return Object.fromEntries(request.headers);
}

/**
 * The suite's options for this adapter: its `setHeaders` speaks Node's `res.setHeader`, which is given
 * the `Headers`' own `set` here.
 */
export function fetchOptions<O extends SendRangeOptions>(
  options: O | undefined,
): (Omit<O, 'setHeaders'> & { setHeaders?: FetchRangeOptions['setHeaders'] }) | undefined {
  if (options === undefined) return undefined;
  const { setHeaders, ...rest } = options;
  if (setHeaders === undefined) return rest;
  return {
    ...rest,
    setHeaders: (headers, path, stat) => {
      const res = { setHeader: (name: string, value: unknown) => headers.set(name, String(value)) };
      setHeaders(res as unknown as ServerResponse, path, stat);
    },
  };
}

/** The Hono app of `setup`: errors become a 500 `error`, a request nothing answered a 404 `fallthrough`. */
export function honoApp(setup: ServerSetup): Hono {
  const app = new Hono();
  if (setup.root !== undefined) {
    const files = rangeServe(setup.root, fetchOptions(setup.options));
    const mount = setup.mount;
    app.use(mount === undefined ? '*' : `${mount}/*`, async (c, next) => (await files(c.req.raw, mount)) ?? next());
  } else {
    withRanges(() => new Response(null), fetchOptions(setup.options)); // a bad option throws here, as rangeServe(options) does
  }
  const table = routes(setup);
  for (const name of setup.routes ?? []) app.get(`/r/${name}`, (c) => table[name](c.req.raw));
  app.notFound((c) => c.text('fallthrough', 404));
  app.onError((_err, c) => c.text('error', 500));
  return app;
}

/** The conformance factory for the fetch adapter on Hono and @hono/node-server. */
export const honoFactory: ServerFactory = async (setup) => {
  const app = honoApp(setup);
  return running(serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server);
};

/**
 * What @hono/node-server makes of a request before any handler sees it: a backslash in the path is
 * refused with 400, dot segments (`..`, `.`, `%2e%2e`) are resolved as the URL standard does; the
 * `Headers` join a field sent in several lines.
 */
export const NODE_SERVER: HostBehaviour = {
  deliveredTarget: (target) => {
    const query = target.indexOf('?');
    if (target.slice(0, query === -1 ? undefined : query).includes('\\')) return 400;
    const url = new URL(`http://host${target}`);
    return url.pathname + url.search;
  },
  joinsRepeatedFields: true,
};
