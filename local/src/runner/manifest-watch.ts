import { existsSync, watch, type FSWatcher } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from '@ambit/core';
import { errorMessage } from '@ambit/core';
import { loadManifests, manifestFiles, type SourcedObject } from '../manifest/load.ts';
import { applyObjects, deleteObjects, type ApplyTarget } from './apply.ts';

/**
 * Keeps the cluster in step with its manifest directory: a changed file is re-applied, objects dropped from a file
 * are deleted, a removed file's objects are deleted. A file that no longer parses is reported (file:document:field)
 * and changes nothing, so a half-typed edit never tears anything down.
 */
export class ManifestWatch {
  readonly #owned = new Map<string, SourcedObject[]>();
  readonly #dirty = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #watcher: FSWatcher | undefined;

  constructor(
    private readonly dir: string,
    private readonly target: ApplyTarget,
    private readonly log: Logger,
    private readonly debounceMs = 200,
  ) {}

  /** Records what the initial apply created from each file. */
  adopt(objects: readonly SourcedObject[]): void {
    for (const o of objects) {
      const list = this.#owned.get(o.path) ?? [];
      list.push(o);
      this.#owned.set(o.path, list);
    }
  }

  start(): void {
    this.#watcher = watch(this.dir, (_event, filename) => {
      if (filename === null || !/\.(ya?ml|json)$/.test(filename) || filename.startsWith('.')) return;
      this.#dirty.add(resolve(join(this.dir, filename)));
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => this.#flush(), this.debounceMs);
    });
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#watcher?.close();
  }

  #flush(): void {
    const files = [...this.#dirty];
    this.#dirty.clear();
    for (const path of files) {
      try {
        this.#sync(path);
      } catch (err) {
        this.log.error({ file: path, err: errorMessage(err) }, 'manifest change not applied');
      }
    }
  }

  #sync(path: string): void {
    const before = this.#owned.get(path) ?? [];
    const now = existsSync(path) ? loadManifests(manifestFiles(path)) : [];
    const ident = (o: SourcedObject): string =>
      `${o.object.apiVersion}/${o.object.kind}/${o.object.metadata.namespace ?? ''}/${o.object.metadata.name ?? ''}`;
    const keep = new Set(now.map(ident));
    const gone = before.filter((o) => !keep.has(ident(o)));
    const applied = applyObjects(this.target, now);
    const deleted = deleteObjects(this.target, gone);
    this.#owned.set(path, now);
    for (const r of [...applied, ...deleted]) {
      if (r.action !== 'unchanged') this.log.info({ file: path, ...r }, 'manifest change applied');
    }
  }
}

/** Every manifest of a directory, for the first apply. */
export function loadDirectory(dir: string): SourcedObject[] {
  return loadManifests(manifestFiles(dir));
}
