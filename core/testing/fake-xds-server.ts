/**
 * A scripted delta-xDS server for tests of xDS clients (STYLE rule 18: a fake that is a real gRPC server). The test
 * decides every response and reads every request, so it can check protocol details (ACK/NACK nonces, error_detail,
 * initial_resource_versions) that a real control plane would hide. Listens on a unix socket or 127.0.0.1 only.
 */
import { existsSync, unlinkSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { aggregatedDiscoveryService } from '../src/proto/load.ts';
import type { DeltaDiscoveryRequestWire, DeltaDiscoveryResponseWire } from '../src/proto/discovery-wire.ts';
import { serverChannelOptions } from '../src/xds/channel-options.ts';

export interface FakeResource {
  readonly name: string;
  readonly body: Uint8Array;
  /** Default: a counter. */
  readonly version?: string;
}

export interface FakeXdsStream {
  readonly id: number;
  /** Every request received on this stream, in order. */
  readonly requests: DeltaDiscoveryRequestWire[];
  readonly metadata: grpc.Metadata;
  /** Sends one response; returns its nonce. */
  send(typeUrl: string, resources: readonly FakeResource[], removed?: readonly string[]): string;
  /** Ends the stream with a status (default UNAVAILABLE), as a crashing or restarting server would. */
  end(code?: grpc.status): void;
  readonly ended: boolean;
}

export interface FakeXdsServer {
  /** Client target: `unix:/path` or `127.0.0.1:port`. */
  readonly address: string;
  readonly streams: readonly FakeXdsStream[];
  close(): Promise<void>;
}

export async function createFakeXdsServer(listen: { socketPath: string } | { port: 0 }): Promise<FakeXdsServer> {
  const server = new grpc.Server(serverChannelOptions());
  const streams: FakeXdsStream[] = [];
  let nonceSeq = 0;
  let versionSeq = 0;
  server.addService(aggregatedDiscoveryService, {
    DeltaAggregatedResources(call: grpc.ServerDuplexStream<DeltaDiscoveryRequestWire, DeltaDiscoveryResponseWire>) {
      let ended = false;
      const stream: FakeXdsStream = {
        id: streams.length,
        requests: [],
        metadata: call.metadata,
        get ended() {
          return ended;
        },
        send(typeUrl, resources, removed = []) {
          const nonce = `fake-${++nonceSeq}`;
          call.write({
            typeUrl,
            nonce,
            resources: resources.map((r) => ({
              name: r.name,
              version: r.version ?? `v${++versionSeq}`,
              resource: { type_url: typeUrl, value: r.body },
            })),
            removedResources: [...removed],
          });
          return nonce;
        },
        end(code = grpc.status.UNAVAILABLE) {
          if (ended) return;
          ended = true;
          call.emit('error', { code, details: 'fake xDS server ended the stream' });
        },
      };
      streams.push(stream);
      call.on('data', (req: DeltaDiscoveryRequestWire) => stream.requests.push(req));
      const done = () => {
        ended = true;
      };
      call.on('cancelled', done);
      call.on('error', done);
      call.on('end', () => {
        done();
        call.end();
      });
    },
  });
  const target = 'socketPath' in listen ? `unix:${listen.socketPath}` : '127.0.0.1:0';
  if ('socketPath' in listen && existsSync(listen.socketPath)) unlinkSync(listen.socketPath);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(target, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    address: 'socketPath' in listen ? target : `127.0.0.1:${port}`,
    streams,
    async close() {
      for (const s of streams) s.end();
      // A fake need not drain: cut every connection now so a test's teardown never waits on a client.
      server.forceShutdown();
    },
  };
}
