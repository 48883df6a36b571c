import { accessSync, constants } from 'node:fs';
import type { TestContext } from 'node:test';

export interface PrivilegeNeeds {
  /** Needs uid 0 (network namespaces, nftables). */
  readonly root?: boolean;
  /** Executables that must be present, by absolute path (e.g. `/usr/lib/cni/bridge`). */
  readonly executables?: readonly string[];
}

/**
 * Skips the test visibly, with the reason, when the machine lacks what it needs. Under CI (`CI=true`) nothing may
 * skip, so the same lack fails the test instead: CI installs everything and runs as root.
 */
export function requirePrivileges(t: TestContext, needs: PrivilegeNeeds): boolean {
  const missing: string[] = [];
  if (needs.root === true && process.getuid?.() !== 0) missing.push('root');
  for (const exe of needs.executables ?? []) {
    try {
      accessSync(exe, constants.X_OK);
    } catch {
      missing.push(exe);
    }
  }
  if (missing.length === 0) return true;
  const reason = `needs ${missing.join(', ')} (run as root after scripts/ensure-deps.sh)`;
  if (process.env['CI'] === 'true') throw new Error(`CI must not skip: ${reason}`);
  t.skip(reason);
  return false;
}
