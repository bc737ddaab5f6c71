import * as path from 'node:path';

/** The repository's root: the private workspace root the packages are built from. */
export const REPOSITORY_ROOT = path.join(__dirname, '..');

/** The installable packages: their npm names and the folders they are built and packed from. */
export const PACKAGES = {
  client: { name: '@rotation-without-storms/client', dir: path.join(REPOSITORY_ROOT, 'client') },
  cdk: { name: '@rotation-without-storms/cdk', dir: path.join(REPOSITORY_ROOT, 'infra') },
  cli: { name: '@rotation-without-storms/cli', dir: path.join(REPOSITORY_ROOT, 'cli') },
} as const;
export type PackageName = keyof typeof PACKAGES;
