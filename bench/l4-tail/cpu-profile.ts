import { readFileSync } from 'node:fs';

/** The parts of a V8 .cpuprofile this summary reads. */
interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  }[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface ProfileSummary {
  /** Sampled time, ms. */
  readonly totalMs: number;
  /** Self time per kind of code, ms: idle, GC, the proxy's own code, Node's library, V8/native ("(program)"). */
  readonly byKind: Record<string, number>;
  /** The functions with the most self time (idle excluded). */
  readonly top: readonly { readonly fn: string; readonly ms: number }[];
}

/**
 * The ztunnel addon's exports (ztunnel/native/netns.cc). V8's profiler names every N-API call after one of them (they
 * share one C++ entry point; seen: `keepFreedMemory`, called once at start, with 394 ms of samples), so a sample in
 * any of them only says "the addon".
 */
const ADDON_FUNCTIONS = new Set([
  'openNetns',
  'closeFd',
  'createSocket',
  'setMark',
  'getMark',
  'getOriginalDst',
  'trimMemory',
  'keepFreedMemory',
  'mallocFreeBytes',
]);
const ADDON = '(ztunnel addon: any export)';

function kindOf(fn: string, url: string): string {
  if (fn === '(idle)') return 'idle';
  if (fn === ADDON) return 'native (ztunnel addon)';
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(program)') return 'native (program)';
  if (url.startsWith('node:')) return 'Node library';
  if (url.length === 0) return 'native (builtins)';
  return 'Ambit and bundled packages';
}

/** Self time of a CPU profile (what each function ran itself), by kind of code and by function. */
export function summarizeProfile(file: string, topN = 15): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
  const selfUs = new Map<string, number>();
  const byKind: Record<string, number> = {};
  let total = 0;
  p.samples.forEach((id, i) => {
    const us = p.timeDeltas[i] ?? 0;
    const raw = byId.get(id);
    if (raw === undefined) return;
    const f = raw.url.length === 0 && ADDON_FUNCTIONS.has(raw.functionName) ? { ...raw, functionName: ADDON, lineNumber: -1 } : raw;
    total += us;
    const kind = kindOf(f.functionName, f.url);
    byKind[kind] = (byKind[kind] ?? 0) + us / 1000;
    if (kind === 'idle') return;
    const file = f.url.slice(f.url.lastIndexOf('/') + 1);
    const key = `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}`;
    selfUs.set(key, (selfUs.get(key) ?? 0) + us);
  });
  const top = [...selfUs.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, topN)
    .map(([fn, us]) => ({ fn, ms: us / 1000 }));
  return { totalMs: total / 1000, byKind, top };
}
