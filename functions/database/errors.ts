import { RotationError } from '../rotation';

/** The database refused the credentials. Not retried blindly: the next credentials are tried instead. */
export class DatabaseAuthenticationError extends RotationError {
  constructor(
    readonly username: string,
    readonly host: string,
    options?: ErrorOptions,
  ) {
    super(`The database at ${host} refused the credentials of user '${username}'`, options);
    this.name = 'DatabaseAuthenticationError';
  }
}

/** The database could not be reached, refused TLS, or asked us to come back later. */
export class DatabaseUnavailableError extends RotationError {
  constructor(
    readonly host: string,
    readonly code: string,
    /** Whether another attempt may succeed (a refused connection may; a failed TLS verification will not). */
    readonly transient: boolean,
    options?: ErrorOptions,
  ) {
    super(`The database at ${host} is unavailable (${code})`, options);
    this.name = 'DatabaseUnavailableError';
  }
}

/**
 * A statement failed. Carries the driver's error code and the intent, never the statement text or the
 * driver's message (MySQL messages quote parts of the statement, which may hold a password).
 */
export class DatabaseStatementError extends RotationError {
  constructor(
    readonly intent: string,
    readonly code: string,
    options?: ErrorOptions,
    /**
     * Whether the statement lost a race with a concurrent change of the same account (another invocation of
     * the same step), so that running the step again converges.
     */
    readonly transient = false,
  ) {
    super(`Database statement failed while trying to ${intent} (code ${code})`, options);
    this.name = 'DatabaseStatementError';
  }
}

/** Why a TLS connection to the database failed. */
export const TlsFailure = {
  /** The server does not speak TLS at all. */
  NOT_OFFERED: 'NOT_OFFERED',
  /** The certificate chain does not lead to a trusted CA. */
  UNTRUSTED_ISSUER: 'UNTRUSTED_ISSUER',
  /** The certificate is valid but for another host name. */
  NAME_MISMATCH: 'NAME_MISMATCH',
  /** The certificate has expired or is not valid yet. */
  EXPIRED: 'EXPIRED',
  /** Any other handshake failure. */
  HANDSHAKE: 'HANDSHAKE',
} as const;
export type TlsFailure = (typeof TlsFailure)[keyof typeof TlsFailure];

const TLS_EXPLANATIONS: Readonly<Record<TlsFailure, string>> = {
  NOT_OFFERED:
    'the server does not offer TLS; enable TLS on the server (the function never falls back to plaintext ' +
    'unless the secret says "ssl": false)',
  UNTRUSTED_ISSUER:
    "the issuer of the server's certificate is not trusted; add its CA to the PEM file named by DB_CA_BUNDLE_PATH",
  NAME_MISMATCH:
    "the server's certificate does not name the host of the secret; connect by a name the certificate lists " +
    '(its subjectAltName)',
  EXPIRED: "the server's certificate has expired or is not valid yet",
  HANDSHAKE: 'the TLS handshake failed',
};

/** TLS to the database failed; never retried, never downgraded to plaintext. */
export class DatabaseTlsError extends DatabaseUnavailableError {
  constructor(
    host: string,
    readonly reason: TlsFailure,
    /** The TLS library's code, e.g. `SELF_SIGNED_CERT_IN_CHAIN`, when known. */
    readonly tlsCode: string | undefined,
    options?: ErrorOptions,
  ) {
    super(host, `TLS ${reason}${tlsCode ? ` ${tlsCode}` : ''}`, false, options);
    this.message = `TLS to the database at ${host} failed: ${TLS_EXPLANATIONS[reason]}${tlsCode ? ` (${tlsCode})` : ''}`;
    this.name = 'DatabaseTlsError';
  }
}

/**
 * Classifies a TLS failure from Node's error code or message (the drivers wrap Node's TLS errors).
 * `undefined` when the error is not about TLS.
 */
export function tlsFailureOf(error: unknown): { reason: TlsFailure; tlsCode?: string } | undefined {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  const text = typeof message === 'string' ? message : '';
  const tlsCode = typeof code === 'string' && /^[A-Z_]+$/.test(code) ? code : undefined;
  const withCode = (reason: TlsFailure, known = tlsCode) => (known ? { reason, tlsCode: known } : { reason });
  if (
    tlsCode === 'HANDSHAKE_NO_SSL_SUPPORT' ||
    /does not support (SSL|secure connection)|server does not support SSL/i.test(text)
  ) {
    return withCode(TlsFailure.NOT_OFFERED);
  }
  if (tlsCode === 'ERR_TLS_CERT_ALTNAME_INVALID' || /altnames|Hostname\/IP does not match/i.test(text)) {
    return withCode(TlsFailure.NAME_MISMATCH, 'ERR_TLS_CERT_ALTNAME_INVALID');
  }
  const untrusted: Record<string, string> = {
    'self-signed certificate in certificate chain': 'SELF_SIGNED_CERT_IN_CHAIN',
    'self signed certificate in certificate chain': 'SELF_SIGNED_CERT_IN_CHAIN',
    'self-signed certificate': 'DEPTH_ZERO_SELF_SIGNED_CERT',
    'self signed certificate': 'DEPTH_ZERO_SELF_SIGNED_CERT',
    'unable to verify the first certificate': 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'unable to get local issuer certificate': 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
    'unable to get issuer certificate': 'UNABLE_TO_GET_ISSUER_CERT',
  };
  const UNTRUSTED_CODES = new Set(Object.values(untrusted));
  if (tlsCode && UNTRUSTED_CODES.has(tlsCode)) return withCode(TlsFailure.UNTRUSTED_ISSUER);
  const known = untrusted[text.trim().toLowerCase()];
  if (known) return withCode(TlsFailure.UNTRUSTED_ISSUER, known);
  if (
    tlsCode === 'CERT_HAS_EXPIRED' ||
    tlsCode === 'CERT_NOT_YET_VALID' ||
    /certificate has expired/i.test(text)
  ) {
    return withCode(TlsFailure.EXPIRED, tlsCode ?? 'CERT_HAS_EXPIRED');
  }
  if (tlsCode === 'HANDSHAKE_SSL_ERROR' || /SSL|TLS|certificate/i.test(text)) {
    return withCode(TlsFailure.HANDSHAKE);
  }
  return undefined;
}

/** The secrets of one rotation point at different accounts or databases: refused. */
export class CredentialMismatchError extends RotationError {
  constructor(message: string) {
    super(message);
    this.name = 'CredentialMismatchError';
  }
}

/**
 * The users of an alternating-users secret are not a pair this function recorded at the database: refused
 * before any change, so that a secret edited to name another account cannot turn the master against it.
 */
export class UnverifiedUserPairError extends CredentialMismatchError {
  constructor(message: string) {
    super(message);
    this.name = 'UnverifiedUserPairError';
  }
}
