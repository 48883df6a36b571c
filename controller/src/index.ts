export { startController, type RunningController } from './app.ts';
export type { ControllerConfig } from './config.ts';
