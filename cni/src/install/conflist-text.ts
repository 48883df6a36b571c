// Chaining a plugin into a CNI network configuration list by editing its text, not by re-serialising it: the primary
// CNI owns the file, and what we add must be the only difference, so that removing it gives back the primary's file
// byte for byte (its formatting, key order and number spellings included). The parse is JSON.parse; the small scanner
// below only finds where the top-level `plugins` array and its elements are in the text.
import { AmbitError, isRecord } from '@ambit/core';

/** A CNI config the installer cannot chain into; the message names the file and the field. */
export class CniConfigError extends AmbitError {
  constructor(message: string) {
    super('CNI_CONFIG_INVALID', message);
  }
}

/** Half-open text range `[start, end)`. */
interface Span {
  readonly start: number;
  readonly end: number;
}

/** One network configuration list, parsed, with where each `plugins[i]` is in the text. */
export interface ConfListText {
  readonly text: string;
  readonly json: Readonly<Record<string, unknown>>;
  readonly plugins: readonly Readonly<Record<string, unknown>>[];
  readonly pluginSpans: readonly Span[];
}

/**
 * Parses a `.conflist`: an object with a non-empty `plugins` array of objects that each have a string `type` (CNI spec
 * "Network Configuration Lists"). `file` only names the source in errors.
 */
export function parseConfListText(text: string, file: string): ConfListText {
  const json = parseJsonObject(text, file);
  const plugins = json['plugins'];
  if (!Array.isArray(plugins) || plugins.length === 0) throw new CniConfigError(`${file}: "plugins" must be a non-empty array`);
  const parsed = plugins.map((p: unknown, i) => {
    if (!isRecord(p) || typeof p['type'] !== 'string') throw new CniConfigError(`${file}: plugins[${i}].type must be a string`);
    return p;
  });
  const pluginSpans = findPluginSpans(text);
  // JSON.parse keeps the last of duplicate keys; the scanner finds the first: refuse rather than edit the wrong one.
  if (pluginSpans.length !== parsed.length) throw new CniConfigError(`${file}: more than one "plugins" key`);
  return { text, json, plugins: parsed, pluginSpans };
}

/**
 * Parses a single network configuration (`.conf`): an object with a string `type`. Such a file has no plugin list, so
 * chaining needs it converted to a list first (convertConfToConfList).
 */
export function parseConfText(text: string, file: string): Readonly<Record<string, unknown>> {
  const json = parseJsonObject(text, file);
  if (typeof json['type'] !== 'string') throw new CniConfigError(`${file}: "type" must be a string`);
  return json;
}

/**
 * The list istio-cni makes of a single `.conf` (install-cni `insertCNIConfig`): the network's `cniVersion` and `name`
 * move to the list and the rest of the file becomes `plugins[0]`. Unlike istio-cni the network keeps its own name and
 * version (istio-cni renames it `k8s-pod-network`, 0.3.1), so a runtime sees the same network as before.
 */
export function convertConfToConfList(conf: Readonly<Record<string, unknown>>): string {
  const { cniVersion, name, ...plugin } = conf;
  const list = { cniVersion: cniVersion ?? '0.3.1', name: name ?? 'k8s-pod-network', plugins: [plugin] };
  return `${JSON.stringify(list, null, 2)}\n`;
}

/**
 * The text with `entry` appended as the last plugin: the only change is `,` + the whitespace that precedes the last
 * element + the entry (indented like it), inserted right after the last element, so `removePluginText` of the result
 * restores `list.text` exactly.
 */
export function appendPluginText(list: ConfListText, entry: Readonly<Record<string, unknown>>): string {
  const spans = list.pluginSpans;
  const last = spans[spans.length - 1];
  if (last === undefined) throw new CniConfigError('BUG: a parsed conflist without plugins');
  const before = spans.length > 1 ? (spans[spans.length - 2]?.end ?? 0) : openingBracket(list.text, last.start);
  // The separator the file already uses between elements (or after `[` for a single one), minus its comma.
  const gap = list.text.slice(before, last.start).replace(/^\s*[,[]/, '');
  const lineIndent = /\n([ \t]*)$/.exec(gap)?.[1];
  const body =
    lineIndent === undefined
      ? JSON.stringify(entry)
      : JSON.stringify(entry, null, indentUnit(lineIndent)).replaceAll('\n', `\n${lineIndent}`);
  return `${list.text.slice(0, last.end)},${gap}${body}${list.text.slice(last.end)}`;
}

/**
 * The text without the plugins `matches` selects: each goes together with the separator before it (after the first
 * element) or after it (the first element), so appendPluginText + removePluginText is the identity. Undefined when
 * nothing matches, or when every plugin matches (a list must keep one: the caller decides what to do with the file).
 */
export function removePluginText(list: ConfListText, matches: (plugin: Readonly<Record<string, unknown>>) => boolean): string | undefined {
  const drop = list.plugins.map((p) => matches(p));
  if (!drop.includes(true) || !drop.includes(false)) return undefined;
  const spans = list.pluginSpans;
  const cuts: Span[] = [];
  for (let i = 0; i < spans.length; i++) {
    if (drop[i] !== true) continue;
    const span = spans[i] as Span;
    const prev = spans[i - 1];
    const next = spans[i + 1];
    cuts.push(prev !== undefined ? { start: prev.end, end: span.end } : { start: span.start, end: (next as Span).start });
  }
  // Adjacent dropped elements give touching cuts; cutting from the end keeps the earlier offsets valid.
  let text = list.text;
  for (const cut of cuts.reverse()) text = text.slice(0, cut.start) + text.slice(cut.end);
  return text;
}

function parseJsonObject(text: string, file: string): Readonly<Record<string, unknown>> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new CniConfigError(`${file}: not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!isRecord(json)) throw new CniConfigError(`${file}: not a JSON object`);
  return json;
}

function indentUnit(lineIndent: string): string | number {
  if (lineIndent.startsWith('\t')) return '\t';
  return lineIndent.length >= 4 && lineIndent.length % 4 === 0 ? 4 : 2;
}

function openingBracket(text: string, before: number): number {
  const at = text.lastIndexOf('[', before);
  if (at < 0) throw new CniConfigError('BUG: no "[" before the first plugin');
  return at;
}

/** Spans of the elements of the top-level object's `plugins` array, in order. The text is valid JSON (parsed first). */
function findPluginSpans(text: string): Span[] {
  let i = skipWs(text, 0);
  if (text[i] !== '{') return [];
  i = skipWs(text, i + 1);
  while (i < text.length && text[i] !== '}') {
    const keyEnd = scanString(text, i);
    const key = JSON.parse(text.slice(i, keyEnd)) as string;
    i = skipWs(text, keyEnd);
    i = skipWs(text, i + 1); // ':'
    const valueEnd = scanValue(text, i);
    if (key === 'plugins' && text[i] === '[') return arrayElements(text, i);
    i = skipWs(text, valueEnd);
    if (text[i] === ',') i = skipWs(text, i + 1);
  }
  return [];
}

function arrayElements(text: string, open: number): Span[] {
  const spans: Span[] = [];
  let i = skipWs(text, open + 1);
  while (i < text.length && text[i] !== ']') {
    const end = scanValue(text, i);
    spans.push({ start: i, end });
    i = skipWs(text, end);
    if (text[i] === ',') i = skipWs(text, i + 1);
  }
  return spans;
}

function skipWs(text: string, i: number): number {
  while (i < text.length && ' \t\r\n'.includes(text[i] as string)) i++;
  return i;
}

function scanString(text: string, i: number): number {
  let k = i + 1;
  while (k < text.length && text[k] !== '"') k += text[k] === '\\' ? 2 : 1;
  return k + 1;
}

/** End of the JSON value starting at `i` (a string, an object or array with nesting, or a literal/number). */
function scanValue(text: string, i: number): number {
  const c = text[i];
  if (c === '"') return scanString(text, i);
  if (c === '{' || c === '[') {
    let depth = 0;
    let k = i;
    while (k < text.length) {
      const ch = text[k];
      if (ch === '"') {
        k = scanString(text, k);
        continue;
      }
      if (ch === '{' || ch === '[') depth++;
      else if (ch === '}' || ch === ']') {
        depth--;
        if (depth === 0) return k + 1;
      }
      k++;
    }
    return k;
  }
  let k = i;
  while (k < text.length && !',}] \t\r\n'.includes(text[k] as string)) k++;
  return k;
}
