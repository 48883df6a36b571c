/**
 * Test support from @ambit/core's xds/ directory (tmp socket dirs, leak counters). @ambit/core exports `./xds` but not
 * its test helpers, which stay out of the production entry point; until it exports `./xds/testing`, they are reached
 * by relative path here, in this one place.
 */
export * from '@ambit/core/xds/testing';
