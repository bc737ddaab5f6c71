/**
 * Rotated API keys (`@rotation-without-storms/client/api-keys`): the verifier a service checks incoming keys
 * with, and the credentials it sends to another service. No dependency beyond the core.
 * @packageDocumentation
 */
export {
  type AcceptedStage,
  type ApiKeyVerification,
  ApiKeyVerifier,
  type ApiKeyVerifierOptions,
} from './api-key-verifier.js';
export {
  type ApiKeyCredential,
  ApiKeyCredentials,
  type ApiKeyCredentialsOptions,
  ApiKeyRejectedError,
} from './http-credentials.js';
