import express from 'express';
import { runConformance } from '../conformance/suite.ts';
import { expressFactory } from './factory.ts';

runConformance('Express 5', expressFactory(express));
