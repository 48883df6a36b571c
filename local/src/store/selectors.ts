import { isRecord } from '@ambit/core';
import { isDnsSubdomain } from '../kube/dns-names.ts';
import type { KubeObject } from '../kube/types.ts';
import { ApiError } from './api-error.ts';

/**
 * Label and field selectors with the grammar of k8s.io/apimachinery `labels.Parse` and `fields.ParseSelector`.
 * Parse errors are 400 BadRequest, as the real API server answers a bad `?labelSelector=`.
 */

export interface Selector {
  matches(obj: KubeObject): boolean;
}

type LabelOp = 'exists' | 'notexists' | '=' | '!=' | 'in' | 'notin' | 'gt' | 'lt';

interface Requirement {
  readonly key: string;
  readonly op: LabelOp;
  readonly values: readonly string[];
}

const NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

function validKey(key: string): boolean {
  const slash = key.indexOf('/');
  const prefix = slash === -1 ? undefined : key.slice(0, slash);
  const name = slash === -1 ? key : key.slice(slash + 1);
  if (prefix !== undefined && !isDnsSubdomain(prefix)) return false;
  return name.length <= 63 && NAME.test(name);
}

function validValue(v: string): boolean {
  return v === '' || (v.length <= 63 && NAME.test(v));
}

type Token = { kind: 'word'; text: string } | { kind: 'op'; text: string };

function lex(input: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i] ?? '';
    if (c === ' ' || c === '\t') {
      i++;
    } else if (input.startsWith('!=', i) || input.startsWith('==', i)) {
      out.push({ kind: 'op', text: input.slice(i, i + 2) });
      i += 2;
    } else if ('=!(),<>'.includes(c)) {
      out.push({ kind: 'op', text: c });
      i++;
    } else {
      let j = i;
      while (j < input.length && !' \t=!(),<>'.includes(input[j] ?? '')) j++;
      out.push({ kind: 'word', text: input.slice(i, j) });
      i = j;
    }
  }
  return out;
}

function bad(selector: string, why: string): ApiError {
  return ApiError.badRequest(`unable to parse requirement: ${why} (in selector "${selector}")`);
}

function parseRequirements(selector: string): Requirement[] {
  const tokens = lex(selector);
  const reqs: Requirement[] = [];
  let i = 0;
  const peek = (): Token | undefined => tokens[i];
  const word = (what: string): string => {
    const t = tokens[i];
    if (t?.kind !== 'word') throw bad(selector, `expected ${what}, found ${t === undefined ? 'end of input' : `'${t.text}'`}`);
    i++;
    return t.text;
  };
  while (i < tokens.length) {
    let req: Requirement;
    if (peek()?.text === '!' && peek()?.kind === 'op') {
      i++;
      req = { key: word('a key'), op: 'notexists', values: [] };
    } else {
      const key = word('a key');
      const t = peek();
      if (t === undefined || (t.kind === 'op' && t.text === ',')) {
        req = { key, op: 'exists', values: [] };
      } else if (t.kind === 'op' && (t.text === '=' || t.text === '==' || t.text === '!=')) {
        i++;
        // An empty value (`k=`) is legal and matches the empty label value.
        const next = peek();
        const value = next?.kind === 'word' ? word('a value') : '';
        req = { key, op: t.text === '!=' ? '!=' : '=', values: [value] };
      } else if (t.kind === 'op' && (t.text === '>' || t.text === '<')) {
        i++;
        const value = word('an integer');
        if (!/^-?\d+$/.test(value)) throw bad(selector, `for 'gt', 'lt' operators, the value must be an integer`);
        req = { key, op: t.text === '>' ? 'gt' : 'lt', values: [value] };
      } else if (t.kind === 'word' && (t.text === 'in' || t.text === 'notin')) {
        i++;
        if (peek()?.text !== '(') throw bad(selector, `expected '(' after '${t.text}'`);
        i++;
        const values: string[] = [];
        let slot: string | undefined;
        let closed = false;
        while (!closed) {
          const v = tokens[i++];
          if (v === undefined) throw bad(selector, `expected ')' to close the value set of '${key}'`);
          if (v.kind === 'word' && slot === undefined) slot = v.text;
          else if (v.kind === 'op' && (v.text === ',' || v.text === ')')) {
            values.push(slot ?? '');
            slot = undefined;
            closed = v.text === ')';
          } else throw bad(selector, `found '${v.text}' in the value set of '${key}'`);
        }
        if (values.length === 1 && values[0] === '' && tokens[i - 2]?.text === '(') {
          throw bad(selector, `for 'in', 'notin' operators, values set can't be empty`);
        }
        req = { key, op: t.text, values };
      } else {
        throw bad(selector, `found '${t.text}', expected: '=', '!=', '==', 'in', 'notin'`);
      }
    }
    if (!validKey(req.key)) throw bad(selector, `invalid label key "${req.key}"`);
    for (const v of req.values) if (!validValue(v)) throw bad(selector, `invalid label value: "${v}"`);
    reqs.push(req);
    const sep = peek();
    if (sep === undefined) break;
    if (sep.kind !== 'op' || sep.text !== ',') throw bad(selector, `found '${sep.text}', expected: ','`);
    i++;
    if (peek() === undefined) throw bad(selector, 'found end of input, expected: a key');
  }
  return reqs;
}

function matchRequirement(labels: Readonly<Record<string, string>>, r: Requirement): boolean {
  const has = Object.hasOwn(labels, r.key);
  const v = labels[r.key];
  switch (r.op) {
    case 'exists':
      return has;
    case 'notexists':
      return !has;
    case '=':
      return has && v === r.values[0];
    case '!=':
      return !has || v !== r.values[0];
    case 'in':
      return has && r.values.includes(v ?? '');
    case 'notin':
      return !has || !r.values.includes(v ?? '');
    case 'gt':
    case 'lt': {
      if (v === undefined || !/^-?\d+$/.test(v)) return false;
      const n = Number(v);
      const bound = Number(r.values[0]);
      return r.op === 'gt' ? n > bound : n < bound;
    }
  }
}

const EVERYTHING: Selector = { matches: () => true };

/** Parses a label selector string (`app=web,tier in (a,b),!legacy`); '' or undefined selects everything. */
export function parseLabelSelector(selector: string | undefined): Selector {
  if (selector === undefined || selector.trim() === '') return EVERYTHING;
  const reqs = parseRequirements(selector);
  return { matches: (obj) => reqs.every((r) => matchRequirement(obj.metadata.labels ?? {}, r)) };
}

/** The value a field selector compares: strings as they are, numbers and booleans printed, missing or other → ''. */
export function fieldValue(obj: KubeObject, path: string): string {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (!isRecord(cur)) return '';
    cur = (cur as Record<string, unknown>)[part];
  }
  if (typeof cur === 'string') return cur;
  if (typeof cur === 'number' || typeof cur === 'boolean') return String(cur);
  return '';
}

interface FieldTerm {
  readonly path: string;
  readonly negate: boolean;
  readonly value: string;
}

/** Splits on unescaped `sep`; `\` escapes `,`, `=`, `!` and itself, as in fields.ParseSelector. */
function splitTerms(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i] ?? '';
    if (c === '\\' && i + 1 < s.length) {
      cur += c + (s[i + 1] ?? '');
      i++;
    } else if (c === ',') {
      out.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  out.push(cur);
  return out;
}

function unescape(s: string, selector: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i] ?? '';
    if (c === '\\') {
      const n = s[i + 1];
      if (n === undefined || !'\\,=!'.includes(n))
        throw ApiError.badRequest(`invalid field selector: invalid escape sequence in "${selector}"`);
      out += n;
      i++;
    } else if (c === ',' || c === '=') {
      throw ApiError.badRequest(`invalid field selector: unescaped '${c}' in value of "${selector}"`);
    } else {
      out += c;
    }
  }
  return out;
}

function parseTerm(term: string, selector: string): FieldTerm {
  for (const op of ['!=', '==', '=']) {
    // The operator is the first unescaped occurrence; paths never contain backslashes.
    const i = term.indexOf(op);
    if (i === -1) continue;
    const path = term.slice(0, i).trim();
    if (path === '') break;
    return { path, negate: op === '!=', value: unescape(term.slice(i + op.length), selector) };
  }
  throw ApiError.badRequest(`invalid selector: '${selector}'; can't understand '${term}'`);
}

/** Parses a field selector (`metadata.name=x,status.phase!=Running`); '' or undefined selects everything. */
export function parseFieldSelector(selector: string | undefined): Selector {
  if (selector === undefined || selector.trim() === '') return EVERYTHING;
  const terms = splitTerms(selector)
    .filter((t) => t.trim() !== '')
    .map((t) => parseTerm(t, selector));
  return { matches: (obj) => terms.every((t) => (fieldValue(obj, t.path) === t.value) !== t.negate) };
}

/** Both selectors at once. */
export function parseSelectors(labelSelector: string | undefined, fieldSelector: string | undefined): Selector {
  const l = parseLabelSelector(labelSelector);
  const f = parseFieldSelector(fieldSelector);
  if (l === EVERYTHING) return f;
  if (f === EVERYTHING) return l;
  return { matches: (obj) => l.matches(obj) && f.matches(obj) };
}
