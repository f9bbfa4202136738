import express from 'express4';
import { EXPRESS_MATRIX, type ExpressModule, expressStacks } from './express-stacks.ts';
import { runStacks } from './matrix.ts';

runStacks('Express 4', expressStacks(express as unknown as ExpressModule), EXPRESS_MATRIX);
