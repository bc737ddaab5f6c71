/**
 * The PostgreSQL adapter (`@rotation-without-storms/client/pg`): a `pg` pool that follows the secret's
 * rotations. Needs the `pg` driver, a peer dependency the service installs itself.
 * @packageDocumentation
 */
export { pgTls, RotatingPgPool, type RotatingPgPoolOptions } from './pg-pool.js';
