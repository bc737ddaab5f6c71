/**
 * JWT signing and verification with rotated keys (`@rotation-without-storms/client/jwt`). Needs `jose`, a peer
 * dependency the service installs itself.
 * @packageDocumentation
 */
export {
  JWT_SIGNER_DEFAULTS,
  JWT_SIGNING_ALGORITHMS,
  JwtSigner,
  type JwtSignerOptions,
  JwtSigningError,
  type JwtSignOptions,
} from './jwt-signer.js';
export {
  checkJwksUrl,
  JWT_VERIFIER_DEFAULTS,
  JwksUnavailableError,
  JwtVerificationError,
  JwtVerifier,
  type JwtVerifierOptions,
  type JwtVerifyOptions,
} from './jwt-verifier.js';
