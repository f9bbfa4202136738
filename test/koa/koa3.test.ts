import Koa from 'koa';
import { runConformance } from '../conformance/suite.ts';
import { koaFactory } from './factory.ts';

runConformance('Koa 3', koaFactory(Koa));
