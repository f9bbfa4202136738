import express from 'express';
import { expressUploadFactory } from './factory.ts';
import { runUploadConformance } from './suite.ts';

runUploadConformance('Express 5', expressUploadFactory(express));
