import type Koa from 'koa';
import Koa2 from 'koa2';
import { koaUploadFactory } from './factory.ts';
import { runUploadConformance } from './suite.ts';

runUploadConformance('Koa 2', koaUploadFactory(Koa2 as unknown as new () => Koa));
