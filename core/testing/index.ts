// Test support shared by every package's tests, imported as `@ambit/core/testing`. Never imported by production code
// (eslint.config.js forbids it under */src and */bin; test/integration/layout.test.ts checks the bundles).
// Only light helpers here: the fake servers load gRPC and @peculiar/x509 (~0.3 s a test file), so they have their own
// entries, `@ambit/core/testing/fake-ca` and `@ambit/core/testing/fake-xds-server`.
export { eventually } from './eventually.ts';
export { runGcChild } from './gc-child.ts';
export { requirePrivileges, type PrivilegeNeeds } from './privileges.ts';
export { makeSocketDir, openSockets, pendingTimers, type SocketDir } from './sockets.ts';
export {
  NETNS_EXECUTABLES,
  canRunNetnsTests,
  createNetnsFixture,
  namespacesWithPrefix,
  readAll,
  threadNetns,
  trackConnections,
  type ExecResult,
  type NetnsFixture,
} from './netns.ts';
