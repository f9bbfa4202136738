// The download conformance suite over HTTP/2 (a node:http2 client on one session per server): Koa 2 and 3
// on http2.createSecureServer({ allowHTTP1: true }, app.callback()), and the core's own handlers on plain
// node:http2. The same cases, statuses, fields and bytes as over HTTP/1.1. (Koa 2 answers HEAD over HTTP/2
// only with the middleware docs/works-with.md gives: servers.ts's endHeadOverHttp2.)
import Koa from 'koa';
import Koa2 from 'koa2';
import { runConformance } from '../conformance/suite.ts';
import type { KoaConstructor } from '../koa/factory.ts';
import { koaHttp2Factory, nodeHttp2Factory } from './servers.ts';

runConformance('Koa 3 over HTTP/2', koaHttp2Factory(Koa));
runConformance('Koa 2 over HTTP/2', koaHttp2Factory(Koa2 as unknown as KoaConstructor, true));
runConformance("the core's handlers on node:http2", nodeHttp2Factory);
