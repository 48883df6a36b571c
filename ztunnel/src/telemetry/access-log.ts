import type { Logger, Workload } from '@ambit/core';
import { workloadIdentity } from '../state/mesh-state.ts';

/** One finished connection, as ztunnel's access log describes it (reference §8 "Access log"). */
export interface AccessRecord {
  readonly direction: 'inbound' | 'outbound';
  readonly srcAddr: string;
  readonly srcWorkload: Workload | undefined;
  /** The client's SPIFFE ID (HBONE inbound, or the pod's own on outbound). */
  readonly srcIdentity: string | undefined;
  /** Where the TCP connection went (the destination pod's 15008 for HBONE, else the app address). */
  readonly dstAddr: string;
  /** The HBONE `:authority` (`ip:port`), when tunnelled. */
  readonly hboneAddr: string | undefined;
  readonly dstService: string | undefined;
  readonly dstWorkload: Workload | undefined;
  readonly bytesSent: number;
  readonly bytesRecv: number;
  readonly durationMs: number;
  readonly error: string | undefined;
}

/**
 * Writes one line per connection at completion, denied and failed ones included: Istio's field names (`src.addr`,
 * `dst.hbone_addr`, `bytes_sent`, …) as JSON keys, so existing log queries carry over. INFO on success, ERROR with
 * `error` on failure (as ztunnel).
 */
export function logAccess(log: Logger, r: AccessRecord): void {
  const line: Record<string, string | number> = { direction: r.direction, 'src.addr': r.srcAddr };
  if (r.srcWorkload !== undefined) {
    line['src.workload'] = r.srcWorkload.name;
    line['src.namespace'] = r.srcWorkload.namespace;
  }
  if (r.srcIdentity !== undefined) line['src.identity'] = r.srcIdentity;
  line['dst.addr'] = r.dstAddr;
  if (r.hboneAddr !== undefined) line['dst.hbone_addr'] = r.hboneAddr;
  if (r.dstService !== undefined) line['dst.service'] = r.dstService;
  if (r.dstWorkload !== undefined) {
    line['dst.workload'] = r.dstWorkload.name;
    line['dst.namespace'] = r.dstWorkload.namespace;
    line['dst.identity'] = workloadIdentity(r.dstWorkload);
  }
  line['bytes_sent'] = r.bytesSent;
  line['bytes_recv'] = r.bytesRecv;
  line['duration'] = `${Math.round(r.durationMs)}ms`;
  if (r.error !== undefined) {
    line['error'] = r.error;
    log.error(line, 'connection complete');
  } else log.info(line, 'connection complete');
}
