#!/usr/bin/env node
// Launches the TypeScript CLI through tsx.
import { register } from 'tsx/esm/api';
register();
await import('../src/main.ts');
