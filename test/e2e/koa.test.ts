import { runEndToEnd } from './suite.ts';

runEndToEnd('koa');
