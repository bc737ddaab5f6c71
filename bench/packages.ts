/**
 * bench:packages — what each installable package adds to a user's project: installed size and package
 * count on top of what such a project already has (the client on `pg`, the constructs on `aws-cdk-lib` and
 * `constructs`, the CLI on nothing), beside the floor: the AWS SDK clients the package calls, installed alone
 * on the same baseline. Goal: the client adds at most its SDK clients plus 1 MB.
 *
 * The packages are packed from their built output (run `npm run build` first) and installed from the tarballs
 * with `npm install --prefer-offline` into temporary projects, removed afterwards.
 *
 * Usage: npm run bench:packages -- [--json]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { figuresTable, measurePackages, packPackages } from '../scripts/package-scratch';

const JSON_OUTPUT = process.argv.slice(2).includes('--json');

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'bench-packages-'));
  try {
    const tarballs = await packPackages(join(work, 'tarballs'));
    const figures = await measurePackages(work, tarballs);
    if (JSON_OUTPUT) {
      console.log(JSON.stringify({ packages: figures }, null, 2));
    } else {
      console.log(figuresTable(figures));
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(`bench:packages failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
