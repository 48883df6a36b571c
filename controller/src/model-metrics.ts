import { Counter, Histogram, type Registry } from 'prom-client';

export interface ModelMetrics {
  /** Objects the model could not use (STYLE rule 14: a parse error is counted, never swallowed). */
  readonly invalidObjects: Counter;
  /** Time to fold one watch event into the model. */
  readonly applySeconds: Histogram;
}

export function createModelMetrics(registry: Registry): ModelMetrics {
  return {
    invalidObjects: new Counter({
      name: 'ambit_controller_invalid_objects_total',
      help: 'Kubernetes objects the model could not use',
      registers: [registry],
    }),
    applySeconds: new Histogram({
      name: 'ambit_controller_model_apply_seconds',
      help: 'Time to fold one watch event into the model',
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05],
      registers: [registry],
    }),
  };
}
