import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root, for checks of the repository itself (packages, dependencies, layout, formatting). */
export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
