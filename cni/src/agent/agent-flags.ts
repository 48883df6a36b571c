// The node agent's command line, parsed into AgentOptions (kept apart from main.ts so tests can parse without
// starting an agent).
import { parseArgs } from 'node:util';
import { AmbitError } from '@ambit/core';
import type { AgentOptions } from './agent.ts';

export const USAGE = `usage: main.ts --node NAME --api-socket PATH --cni-socket PATH --ztunnel-socket PATH --state-file PATH
                [--log-level fatal|error|warn|info|debug|trace] [--exclude-namespaces NS,NS]`;
const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface AgentFlags {
  readonly options: Omit<AgentOptions, 'log'>;
  readonly logLevel: string;
}

/** Parses argv (without node and script); throws AmbitError `BAD_ARGS` with a message a user can act on. */
export function parseAgentFlags(argv: readonly string[]): AgentFlags {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      node: { type: 'string' },
      'api-socket': { type: 'string' },
      'cni-socket': { type: 'string' },
      'ztunnel-socket': { type: 'string' },
      'state-file': { type: 'string' },
      'log-level': { type: 'string', default: 'info' },
      'exclude-namespaces': { type: 'string' },
    },
  });
  const required = (flag: 'node' | 'api-socket' | 'cni-socket' | 'ztunnel-socket' | 'state-file'): string => {
    const v = values[flag];
    if (v === undefined || v === '') throw new AmbitError('BAD_ARGS', `--${flag} is required`);
    if (flag !== 'node' && !v.startsWith('/')) throw new AmbitError('BAD_ARGS', `--${flag} must be an absolute path, got ${JSON.stringify(v)}`);
    return v;
  };
  const logLevel = values['log-level'];
  if (!LEVELS.includes(logLevel)) throw new AmbitError('BAD_ARGS', `--log-level must be one of ${LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`);
  const exclude = values['exclude-namespaces'];
  return {
    options: {
      node: required('node'),
      apiSocket: required('api-socket'),
      cniSocket: required('cni-socket'),
      ztunnelSocket: required('ztunnel-socket'),
      stateFile: required('state-file'),
      ...(exclude === undefined ? {} : { excludeNamespaces: exclude.split(',').map((s) => s.trim()).filter((s) => s !== '') }),
    },
    logLevel,
  };
}
