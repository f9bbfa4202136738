import type Koa from 'koa';
import Koa2 from 'koa2';
import { runConformance } from '../conformance/suite.ts';
import { koaFactory } from './factory.ts';

runConformance('Koa 2', koaFactory(Koa2 as unknown as new () => Koa));
