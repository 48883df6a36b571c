import type { ChannelOptions } from '@grpc/grpc-js';

/**
 * gRPC settings both ends of the xDS stream agree on. Keepalive pings find a dead peer (a node that lost power, a
 * half-open TCP connection) in ~40 s instead of the kernel's hours, so the client reconnects and the server frees
 * the connection. grpc-js servers do not enforce a minimum ping interval, so 30 s from every proxy is accepted.
 */
export const XDS_KEEPALIVE_TIME_MS = 30_000;
export const XDS_KEEPALIVE_TIMEOUT_MS = 10_000;

/**
 * Responses are bounded by the server (1 000 resources / 4 MiB of bodies); the limit leaves room for one resource
 * far larger than usual rather than failing the stream on it.
 */
export const XDS_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export function clientChannelOptions(servername: string | undefined): ChannelOptions {
  return {
    'grpc.keepalive_time_ms': XDS_KEEPALIVE_TIME_MS,
    'grpc.keepalive_timeout_ms': XDS_KEEPALIVE_TIMEOUT_MS,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.max_receive_message_length': XDS_MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': XDS_MAX_MESSAGE_BYTES,
    // One stream per channel and a fresh channel per attempt: there is nothing to share or retry transparently.
    'grpc.enable_retries': 0,
    ...(servername === undefined ? {} : { 'grpc.ssl_target_name_override': servername, 'grpc.default_authority': servername }),
  };
}

export function serverChannelOptions(): ChannelOptions {
  return {
    'grpc.keepalive_time_ms': XDS_KEEPALIVE_TIME_MS,
    'grpc.keepalive_timeout_ms': XDS_KEEPALIVE_TIMEOUT_MS,
    'grpc.max_receive_message_length': XDS_MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': XDS_MAX_MESSAGE_BYTES,
  };
}
