/**
 * What a container runs, as a container runtime and the kubelet decide it: the image's entrypoint (for images the
 * local node knows), the container's `command`/`args` with `$(VAR)` references expanded from its environment.
 */

/** A local stand-in for an image: the host program that is its ENTRYPOINT, plus its config's ENV and USER. */
export interface LocalImage {
  /** The image's ENTRYPOINT as host argv (e.g. `[<repo>/deploy/image/ambit]`). */
  readonly entrypoint: readonly string[];
  /** The image config's `Env`: the container's own `env` overrides it. Default none. */
  readonly env?: Readonly<Record<string, string>>;
  /** The image config's numeric `User`; what `runAsNonRoot` checks when no `runAsUser` is set. Default 0 (root). */
  readonly user?: number;
  /** The image config's numeric group (`User: "uid:gid"`); default 0. */
  readonly group?: number;
  /**
   * The image config's `WorkingDir` (the Dockerfile's WORKDIR): where a container without `workingDir` starts; a
   * relative `workingDir` is resolved against it. Default: the manifest's directory, as for containers without image.
   */
  readonly workingDir?: string;
  /**
   * The image's files, as a runtime unpacks its layers: `hostDir` bind-mounted read-only at `mountPath` in every
   * container of the image, where its entrypoint, ENV and WORKDIR point. A container sees them at the same path
   * wherever the host keeps them (under a directory its user cannot enter, or under a path a volume covers).
   */
  readonly files?: { readonly hostDir: string; readonly mountPath: string };
}

/** Where a path of a container's view is on the host: inside the image's files, or the same path. */
export function hostPathOf(image: LocalImage | undefined, path: string): string {
  const files = image?.files;
  if (files === undefined) return path;
  if (path === files.mountPath) return files.hostDir;
  return path.startsWith(`${files.mountPath}/`) ? files.hostDir + path.slice(files.mountPath.length) : path;
}

/**
 * The repository part of an image reference: without `@digest` and without the `:tag` of its last path component
 * (a `:port` in the registry host is kept), e.g. `ghcr.io/ambit-dev/ambit:0.1.0` → `ghcr.io/ambit-dev/ambit`.
 */
export function imageRepository(image: string): string {
  const at = image.indexOf('@');
  const noDigest = at === -1 ? image : image.slice(0, at);
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > slash ? noDigest.slice(0, colon) : noDigest;
}

/** The local image a container's `image` names, if the node has one for its repository. */
export function localImageFor(
  container: Record<string, unknown>,
  images: Readonly<Record<string, LocalImage>> | undefined,
): LocalImage | undefined {
  const image = container['image'];
  if (typeof image !== 'string' || image === '' || images === undefined) return undefined;
  return Object.hasOwn(images, imageRepository(image)) ? images[imageRepository(image)] : undefined;
}

/**
 * Kubernetes' `$(VAR)` expansion (k8s.io/kubernetes third_party/forked/golang/expansion): `$(NAME)` becomes the
 * variable's value when `lookup` knows it and stays as written otherwise; `$$` is an escaped `$`; any other `$`, and
 * an unterminated `$(`, are kept literally.
 */
export function expandVars(input: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  let i = 0;
  while (i < input.length) {
    const c = input[i];
    if (c !== '$' || i + 1 >= input.length) {
      out += c;
      i += 1;
      continue;
    }
    const next = input[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
    } else if (next === '(') {
      const end = input.indexOf(')', i + 2);
      if (end === -1) {
        out += '$(';
        i += 2;
      } else {
        const name = input.slice(i + 2, end);
        out += lookup(name) ?? `$(${name})`;
        i = end + 1;
      }
    } else {
      out += `$${next}`;
      i += 2;
    }
  }
  return out;
}

/**
 * The argv a container runs, by Kubernetes' rules (https://kubernetes.io/docs/tasks/inject-data-application/
 * define-command-argument-container/#notes): `command` replaces the image's ENTRYPOINT; `args` follow the
 * ENTRYPOINT (or `command`). Local images have no CMD, so an image with neither runs its bare ENTRYPOINT. Without a
 * local image the container runs `command` + `args` from the host's filesystem. Both are expanded from `env`.
 */
export function containerArgv(container: Record<string, unknown>, env: Readonly<Record<string, string>>, image?: LocalImage): string[] {
  const list = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);
  const lookup = (name: string): string | undefined => (Object.hasOwn(env, name) ? env[name] : undefined);
  const command = list(container['command']).map((s) => expandVars(s, lookup));
  const args = list(container['args']).map((s) => expandVars(s, lookup));
  if (command.length > 0 || image === undefined) return [...command, ...args];
  return [...image.entrypoint, ...args];
}

/** The container's environment with its image's ENV underneath (what the runtime merges, image first). */
export function withImageEnv(env: Readonly<Record<string, string>>, image: LocalImage | undefined): Record<string, string> {
  return { ...(image?.env ?? {}), ...env };
}
