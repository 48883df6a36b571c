/** Identity primitives and the CA protocol from core. */
export * from '@ambit/core/identity';
