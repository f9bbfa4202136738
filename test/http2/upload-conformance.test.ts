// The upload conformance suite over HTTP/2 (a node:http2 client, one session per server, a stream per
// request, a cut being RST_STREAM CANCEL): Koa 3 and Koa 2 on http2.createSecureServer({ allowHTTP1: true },
// app.callback()), and the core's createUploadHandler on plain node:http2. The same cases, statuses,
// fields and bytes as over HTTP/1.1, plus the draft's 104 that HTTP/2 can carry; the few cases HTTP/2
// cannot express say why they are skipped.
import Koa from 'koa';
import Koa2 from 'koa2';
import { runUploadConformance } from '../uploads/suite.ts';
import { koaUploadHttp2Factory, nodeUploadHttp2Factory } from './upload-servers.ts';

runUploadConformance('Koa 3 over HTTP/2', koaUploadHttp2Factory(Koa));
runUploadConformance('Koa 2 over HTTP/2', koaUploadHttp2Factory(Koa2 as unknown as typeof Koa, true));
runUploadConformance("the core's upload handler on node:http2", nodeUploadHttp2Factory);
