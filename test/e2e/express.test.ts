import { runEndToEnd } from './suite.ts';

runEndToEnd('express');
