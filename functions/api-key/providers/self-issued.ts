import { ApiKeyProviderName, RevokeOutcome } from '../constants';
import { ApiKeyCheckError } from '../errors';
import type { ApiKeyProvider, IssuedKey, IssueRequest, KeyReference, RevokeResult } from './provider';

/** The shortest self-issued key testSecret accepts. */
const MIN_LENGTH = 20;

/**
 * Keys our own services accept: the key is a random string generated in createSecret and lives only in the
 * secret. Services verify it with the client library's `ApiKeyVerifier`, which accepts the AWSCURRENT key and
 * the AWSPREVIOUS key. Revoking a previous key is removing its AWSPREVIOUS label (the revocation sweep does
 * that for every provider): verifiers stop accepting it at their next refresh. Nothing to issue or revoke
 * outside Secrets Manager.
 */
export class SelfIssuedProvider implements ApiKeyProvider {
  readonly name = ApiKeyProviderName.SELF_ISSUED;
  readonly generatesValue = false;

  async issue(_context: unknown, request: IssueRequest): Promise<IssuedKey> {
    // The key's id is the version id: unique, and known before the version exists.
    return { keyId: request.token };
  }

  async check(
    _context: unknown,
    key: KeyReference & { readonly value: string },
    _replaces?: KeyReference,
  ): Promise<void> {
    if (key.value.length < MIN_LENGTH || !/^[\x21-\x7e]+$/.test(key.value)) {
      throw new ApiKeyCheckError(
        this.name,
        `the key must be at least ${MIN_LENGTH} printable ASCII characters without spaces`,
      );
    }
  }

  async revoke(_context: unknown, key: KeyReference): Promise<RevokeResult> {
    return { outcome: RevokeOutcome.REVOKED, ...(key.keyId ? { keyId: key.keyId } : {}) };
  }
}
