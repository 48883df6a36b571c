export type * from './proxy/proxy-inputs.ts';
