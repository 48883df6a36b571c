#!/usr/bin/env node
// Registers tsx in-process (cheaper than a second node process) and runs the TypeScript entry point.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
