/**
 * The MySQL and MariaDB adapter (`@rotation-without-storms/client/mysql2`): a `mysql2` pool that follows the
 * secret's rotations. Needs the `mysql2` driver, a peer dependency the service installs itself.
 * @packageDocumentation
 */
export { mysqlTls, RotatingMySqlPool, type RotatingMySqlPoolOptions } from './mysql-pool.js';
