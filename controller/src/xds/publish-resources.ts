import type { XdsServer } from './xds-server.ts';

/**
 * One type's changed domain objects out over delta-xDS, each encoded under its resource name (`name`, which the
 * proxy's decoder checks against the body); removed names as given. A change with nothing in it publishes nothing.
 */
export function publishResources<T>(
  xds: Pick<XdsServer, 'publish'>,
  typeUrl: string,
  changes: { readonly upserted: readonly T[]; readonly removed: readonly string[] },
  name: (resource: T) => string,
  encode: (resource: T) => Uint8Array,
): void {
  if (changes.upserted.length + changes.removed.length === 0) return;
  xds.publish(typeUrl, {
    upserted: changes.upserted.map((r) => ({ name: name(r), body: encode(r) })),
    removed: [...changes.removed],
  });
}
