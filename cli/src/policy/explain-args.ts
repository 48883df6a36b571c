import { parseArgs } from 'node:util';
import { AmbitError } from '@ambit/core';

/** A pod (`NAMESPACE/POD:PORT`) or a Service (`NAMESPACE/svc/NAME:PORT`). */
export type ExplainTarget =
  | { readonly kind: 'pod'; readonly namespace: string; readonly name: string; readonly port: number }
  | { readonly kind: 'service'; readonly namespace: string; readonly name: string; readonly port: number };

/** The HTTP request a waypoint decides on (defaults: GET /, no headers). */
export interface ExplainRequest {
  /** Upper-case. */
  readonly method: string;
  /** As given (the query, if any, is not part of what policies match). */
  readonly path: string;
  /** Lower-case names; a repeated name's values joined with ',' (as a proxy sees them). */
  readonly headers: Readonly<Record<string, string>>;
}

export interface ExplainArgs {
  readonly help: boolean;
  /** The flags as given, for messages. */
  readonly fromText: string;
  readonly toText: string;
  readonly from: { readonly namespace: string; readonly name: string };
  readonly to: ExplainTarget;
  readonly request: ExplainRequest;
  readonly output: 'text' | 'json';
  readonly cluster: string | undefined;
  readonly kubeconfig: string | undefined;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** `ambitctl policy explain` flags (after `policy explain`); throws AmbitError BAD_ARGS naming the flag. */
export function parseExplainArgs(args: readonly string[]): ExplainArgs {
  const { values } = parseArgs({
    args: [...args],
    options: {
      name: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      output: { type: 'string', short: 'o' },
      kubeconfig: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      method: { type: 'string' },
      path: { type: 'string' },
      header: { type: 'string', multiple: true },
    },
    strict: true,
  });
  const help = values.help === true;
  if (!help && (values.from === undefined || values.to === undefined)) {
    throw new AmbitError(
      'BAD_ARGS',
      'policy explain needs --from NAMESPACE/POD and --to NAMESPACE/POD:PORT (or NAMESPACE/svc/SERVICE:PORT)',
    );
  }
  const output = values.output === undefined ? 'text' : values.output;
  if (output !== 'text' && output !== 'json') throw new AmbitError('BAD_ARGS', `unknown output format "${output}" (use -o json)`);
  const fromText = values.from ?? '';
  const toText = values.to ?? '';
  return {
    help,
    fromText,
    toText,
    from: help ? { namespace: '', name: '' } : parsePod(fromText),
    to: help ? { kind: 'pod', namespace: '', name: '', port: 0 } : parseTarget(toText),
    request: parseRequest(values.method, values.path, values.header ?? []),
    output,
    cluster: values.name,
    kubeconfig: values.kubeconfig,
  };
}

function parsePod(text: string): { namespace: string; name: string } {
  const parts = text.split('/');
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '')
    throw new AmbitError('BAD_ARGS', `--from must be NAMESPACE/POD, got ${JSON.stringify(text)}`);
  return { namespace: parts[0] ?? '', name: parts[1] ?? '' };
}

function parseTarget(text: string): ExplainTarget {
  const m = /^(.+):(\d{1,5})$/.exec(text);
  const shape = '--to must be NAMESPACE/POD:PORT or NAMESPACE/svc/SERVICE:PORT';
  if (m === null) throw new AmbitError('BAD_ARGS', `${shape}, got ${JSON.stringify(text)}`);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new AmbitError('BAD_ARGS', `--to port must be 1-65535, got ${port}`);
  const parts = (m[1] ?? '').split('/');
  if (parts.some((p) => p === '')) throw new AmbitError('BAD_ARGS', `${shape}, got ${JSON.stringify(text)}`);
  if (parts.length === 2) return { kind: 'pod', namespace: parts[0] ?? '', name: parts[1] ?? '', port };
  if (parts.length === 3 && (parts[1] === 'svc' || parts[1] === 'service')) {
    return { kind: 'service', namespace: parts[0] ?? '', name: parts[2] ?? '', port };
  }
  throw new AmbitError('BAD_ARGS', `${shape}, got ${JSON.stringify(text)}`);
}

function parseRequest(method: string | undefined, path: string | undefined, headers: readonly string[]): ExplainRequest {
  const m = (method ?? 'GET').toUpperCase();
  if (!TOKEN.test(m)) throw new AmbitError('BAD_ARGS', `--method must be an HTTP method, got ${JSON.stringify(method)}`);
  const p = path ?? '/';
  if (!p.startsWith('/') && p !== '*') throw new AmbitError('BAD_ARGS', `--path must start with "/", got ${JSON.stringify(path)}`);
  const out: Record<string, string> = {};
  for (const h of headers) {
    const eq = h.indexOf('=');
    const name = eq < 0 ? '' : h.slice(0, eq).trim().toLowerCase();
    if (!TOKEN.test(name)) throw new AmbitError('BAD_ARGS', `--header must be NAME=VALUE, got ${JSON.stringify(h)}`);
    const value = h.slice(eq + 1);
    out[name] = out[name] === undefined ? value : `${out[name]},${value}`;
  }
  return { method: m, path: p, headers: out };
}
