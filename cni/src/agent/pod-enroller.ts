// Capturing and releasing one pod: capture rules in its namespace, ztunnel told, state persisted — or, when any step
// fails, none of it. Shared by the CNI path and the label-driven reconcile; callers hold the pod's lock
// (KeyedSerializer) around each call.
import { stat } from 'node:fs/promises';
import { AmbitError, errorMessage, type Logger } from '@ambit/core';
import type { AgentState, EnrolledPod } from './agent-state.ts';
import { installCaptureRules, removeCaptureRules } from './capture-rules.ts';
import { ZtunnelLinkError, type ZtunnelLink } from './ztunnel-link.ts';

/** The step that failed, as the CNI server reports it. */
export type EnrolStep = 'rules' | 'ztunnel-not-connected' | 'ztunnel-error' | 'ztunnel-timeout' | 'persist';

/** HTTP status per step: 503 and 504 say "try again" (the plugin maps every non-200 to CNI code 11 anyway). */
const STATUS: Readonly<Record<EnrolStep, number>> = {
  rules: 500,
  'ztunnel-not-connected': 503,
  'ztunnel-error': 502,
  'ztunnel-timeout': 504,
  persist: 500,
};

export class EnrolError extends AmbitError {
  readonly step: EnrolStep;
  readonly httpStatus: number;

  constructor(step: EnrolStep, message: string, cause?: unknown) {
    super(`ENROL_${step.toUpperCase().replaceAll('-', '_')}`, message, { cause });
    this.step = step;
    this.httpStatus = STATUS[step];
  }
}

export interface PodEnroller {
  /** Captures the pod (again, when already enrolled: a retried ADD or a new sandbox). Throws EnrolError. */
  enrol(pod: EnrolledPod): Promise<void>;
  /**
   * Releases an enrolled pod: forgets it, removes its rules when `removeRules` and its namespace still exists, tells
   * ztunnel (a disconnected ztunnel learns it from the next snapshot). Throws EnrolError('rules') only when rules
   * could not be removed from a namespace that exists; the rest is done regardless.
   */
  release(pod: EnrolledPod, opts: { readonly removeRules: boolean }): Promise<void>;
}

export async function netnsExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

export function createPodEnroller(deps: { readonly state: AgentState; readonly ztunnel: ZtunnelLink; readonly log: Logger }): PodEnroller {
  const { state, ztunnel } = deps;
  const log = deps.log.child({ component: 'enroller' });

  const removeRulesQuietly = async (netns: string, what: string): Promise<void> => {
    if (!(await netnsExists(netns))) return;
    await removeCaptureRules(netns).catch((err: unknown) =>
      log.warn({ pod: what, netns, err: errorMessage(err) }, 'could not remove capture rules'),
    );
  };

  const ztunnelStep = (err: unknown, what: string): EnrolError => {
    if (err instanceof ZtunnelLinkError) {
      switch (err.code) {
        case 'ZTUNNEL_NOT_CONNECTED':
        case 'ZTUNNEL_DISCONNECTED':
          return new EnrolError('ztunnel-not-connected', `${what}: ztunnel not connected: ${err.message}`, err);
        case 'ZTUNNEL_ACK_TIMEOUT':
          return new EnrolError('ztunnel-timeout', `${what}: timeout: ${err.message}`, err);
        case 'ZTUNNEL_REJECTED':
          return new EnrolError('ztunnel-error', `${what}: ztunnel error: ${err.message}`, err);
      }
    }
    return new EnrolError('ztunnel-error', `${what}: ztunnel error: ${errorMessage(err)}`, err);
  };

  return {
    async enrol(pod) {
      const what = `pod ${pod.namespace}/${pod.name}`;
      const previous = state.get(pod.uid);
      // In the state before ztunnel hears of it: a ztunnel that says hello meanwhile gets it in its snapshot, instead
      // of dropping it as "not in the snapshot" right after acking our add.
      state.put(pod);
      try {
        if (!ztunnel.connected())
          throw new EnrolError('ztunnel-not-connected', `${what}: ztunnel not connected: no ztunnel has said hello on this node`);
        try {
          await installCaptureRules(pod.netns);
        } catch (err) {
          throw new EnrolError('rules', `${what}: rules: ${errorMessage(err)}`, err);
        }
        try {
          await ztunnel.add(pod);
        } catch (err) {
          throw ztunnelStep(err, what);
        }
        try {
          await state.save();
        } catch (err) {
          throw new EnrolError('persist', `${what}: persist state: ${errorMessage(err)}`, err);
        }
        log.info({ pod: what, uid: pod.uid, netns: pod.netns, ips: pod.ips }, 'pod captured');
      } catch (err) {
        // Fail closed the other way round: no pod may stay redirected to listeners ztunnel does not have.
        state.delete(pod.uid);
        await removeRulesQuietly(pod.netns, what);
        if (previous !== undefined && previous.netns !== pod.netns) await removeRulesQuietly(previous.netns, what);
        // Not awaited: the del is on the wire before any retry's add (one socket, in order), and waiting for the ack of a
        // ztunnel that just timed out would only make the caller's answer later.
        if (ztunnel.connected()) void ztunnel.del(pod.uid).catch(() => undefined);
        await state.save().catch((saveErr: unknown) => log.error({ err: errorMessage(saveErr) }, 'could not persist state'));
        log.warn({ pod: what, err: errorMessage(err) }, 'pod not captured');
        throw err;
      }
    },

    async release(pod, opts) {
      const what = `pod ${pod.namespace}/${pod.name}`;
      state.delete(pod.uid);
      await state.save().catch((err: unknown) => log.error({ err: errorMessage(err) }, 'could not persist state'));
      let rulesError: EnrolError | undefined;
      // Rules first: until ztunnel drops its listeners the pod's traffic still has somewhere to go, and after the
      // rules are gone it goes direct; the other order would refuse the pod's connections in between.
      if (opts.removeRules && (await netnsExists(pod.netns))) {
        try {
          await removeCaptureRules(pod.netns);
        } catch (err) {
          // The namespace may have gone between the check and nft: then there is nothing left to remove.
          if (await netnsExists(pod.netns)) rulesError = new EnrolError('rules', `${what}: remove rules: ${errorMessage(err)}`, err);
        }
      }
      try {
        await ztunnel.del(pod.uid);
      } catch (err) {
        const level = err instanceof ZtunnelLinkError && err.code === 'ZTUNNEL_NOT_CONNECTED' ? 'info' : 'warn';
        log[level]({ pod: what, err: errorMessage(err) }, 'ztunnel not told of the release (it drops the pod at its next snapshot)');
      }
      log.info({ pod: what, uid: pod.uid }, 'pod released');
      if (rulesError !== undefined) throw rulesError;
    },
  };
}
