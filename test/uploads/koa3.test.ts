import Koa from 'koa';
import { koaUploadFactory } from './factory.ts';
import { runUploadConformance } from './suite.ts';

runUploadConformance('Koa 3', koaUploadFactory(Koa));
