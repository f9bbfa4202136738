import express from 'express';
import { EXPRESS_MATRIX, expressStacks } from './express-stacks.ts';
import { runStacks } from './matrix.ts';

runStacks('Express 5', expressStacks(express), EXPRESS_MATRIX);
