import Koa from 'koa2';
import { KOA_MATRIX, type KoaConstructor, koaStacks } from './koa-stacks.ts';
import { runStacks } from './matrix.ts';

runStacks('Koa 2', koaStacks(Koa as unknown as KoaConstructor), KOA_MATRIX);
