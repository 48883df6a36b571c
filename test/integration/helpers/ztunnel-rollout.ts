// The one step of the ztunnel hand-over test that depends on how the local cluster runs ztunnel. Today the runner
// starts ztunnel itself, and its `ztunnel-replace` hook does what the DaemonSet's rolling update (maxSurge 1,
// maxUnavailable 0) does on one node. Once the local cluster runs deploy/'s DaemonSet, swap the body of
// replaceZtunnel for `kubectl rollout restart ds/ztunnel -n ambit-system` + `kubectl rollout status`, reading the
// old pod's deletion time and terminationGracePeriodSeconds instead of the pids.
import { request } from 'node:http';
import { clusterPaths } from '@ambit/local';

export interface ZtunnelReplacement {
  readonly node: string;
  readonly oldPid: number;
  readonly newPid: number;
  /** When the old ztunnel was told to stop (epoch ms): its drain deadline is this plus --drain-seconds. */
  readonly sigtermAtMs: number;
  /** When it had exited (epoch ms). */
  readonly exitedAtMs: number;
}

/** Replaces `node`'s ztunnel with surge: the new one ready first, then the old one SIGTERMed; resolves once it exited. */
export function replaceZtunnel(cluster: string, node: string): Promise<ZtunnelReplacement> {
  const body = Buffer.from(JSON.stringify({ node }));
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath: clusterPaths(cluster).apiSocket,
        method: 'POST',
        path: '/ambit/v1/ztunnel-replace',
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`ztunnel-replace ${node}: ${res.statusCode ?? '?'} ${text}`));
          else resolve(JSON.parse(text) as ZtunnelReplacement);
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
