import { runUploadEndToEnd } from './uploads.ts';

runUploadEndToEnd('koa');
