/** Test support for components that speak xDS: the scripted fake server and handle-leak helpers. */
export { createFakeXdsServer, type FakeXdsServer, type FakeXdsStream, type FakeResource } from './fake-xds-server.ts';
export { makeSocketDir, openSockets, pendingTimers, type SocketDir } from './test-helpers.ts';
