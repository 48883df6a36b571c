/** The shared mesh model from core, re-exported for the model's files. */
export * from '@ambit/core';
