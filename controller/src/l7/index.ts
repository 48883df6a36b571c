export { L7AuthorizationBuilder, type L7Delta, type L7StatusUpdate, type ServiceChanges } from './l7-builder.ts';
export { createL7Publisher, policyStatusTarget, type L7PublisherDeps } from './l7-publisher.ts';
