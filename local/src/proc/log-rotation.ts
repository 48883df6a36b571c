import { copyFileSync, statSync, truncateSync } from 'node:fs';

/**
 * Bounds a container's log file the way the kubelet bounds container logs (`containerLogMaxSize`, 10 MiB by
 * default, one rotated file kept here): once the file is larger than `maxBytes` it is copied to `<file>.1` and
 * truncated in place. Copy-and-truncate rather than rename because the container holds the file open with
 * O_APPEND: after the truncate its next write lands at the start of the same file, where `kubectl logs -f` (which
 * restarts from 0 when the file shrinks) picks it up. Output written between the copy and the truncate is lost, as
 * with logrotate's copytruncate. Returns whether it rotated; a missing file is not an error.
 */
export function rotateLogIfLarger(file: string, maxBytes: number): boolean {
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    return false;
  }
  if (size <= maxBytes) return false;
  copyFileSync(file, `${file}.1`);
  truncateSync(file, 0);
  return true;
}
