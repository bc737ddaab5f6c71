import type { Logger } from '@aws-lambda-powertools/logger';
import type { ApiKeyProviderName, RevokeOutcome } from '../constants';

/** A key as the provider lists it. */
export interface ProviderKey {
  readonly keyId: string;
  /** The name we issued it under (`<prefix><versionId>`), when the provider keeps names. */
  readonly name?: string;
}

/**
 * Which key: the provider's id when the secret version records it, and always the name the function gives
 * the keys it issues, `<prefix><versionId>`, through which a retry or a sweep finds a key whose id it never
 * recorded (a version's value cannot change after it was put).
 */
export interface KeyReference {
  readonly keyId?: string;
  readonly name: string;
}

/** What `issue` is asked for. */
export interface IssueRequest {
  /** The name to issue the key under; the same on every retry of the rotation. */
  readonly name: string;
  /** The rotation token, for providers that take an idempotency key. */
  readonly token: string;
  /** The key to register, when the function generated it; absent when the provider generates it. */
  readonly value?: string;
  /** The key being replaced (API Gateway copies its usage plans). */
  readonly replaces: KeyReference;
  /** The secret whose key this is (for descriptions the provider keeps). */
  readonly secretArn: string;
}

/** What `issue` returns. */
export interface IssuedKey {
  readonly keyId: string;
  /** The key, when the provider generated it. */
  readonly value?: string;
}

/** What `revoke` returns. */
export interface RevokeResult {
  readonly outcome: RevokeOutcome;
  /** The id of the key, when it was found. */
  readonly keyId?: string;
}

/** What a provider may use during one invocation. */
export interface ProviderContext {
  readonly logger: Logger;
  /** Registers a sensitive string so that no log line, event or error can carry it. */
  redact(value: string): void;
  /** The AWSCURRENT value of another secret (an admin credential), registered for redaction. */
  readSecret(secretId: string): Promise<string>;
}

/**
 * Where keys are issued, checked and revoked. The only code that talks to the outside. Every operation is
 * idempotent: a retry after a crash at any point converges.
 */
export interface ApiKeyProvider {
  readonly name: ApiKeyProviderName;
  /**
   * Whether the provider generates the key itself. Then `issue` runs in createSecret (the pending value needs
   * the key); otherwise the function generates the key in createSecret and `issue` runs in setSecret.
   */
  readonly generatesValue: boolean;
  /**
   * Issues the key under `request.name`, or finds the one a previous attempt issued under that name.
   * Providers that take our value must be idempotent here.
   */
  issue(context: ProviderContext, request: IssueRequest): Promise<IssuedKey>;
  /**
   * Proves that `key` works (with `value`), without side effects. `replaces` is the current key, for checks
   * that compare (API Gateway: the same usage plans).
   */
  check(
    context: ProviderContext,
    key: KeyReference & { readonly value: string },
    replaces: KeyReference,
  ): Promise<void>;
  /** Revokes a key; a key that is already gone is `absent`, not an error. */
  revoke(context: ProviderContext, key: KeyReference): Promise<RevokeResult>;
  /** Finds a key by its exact name, where the provider can. */
  find?(context: ProviderContext, name: string): Promise<ProviderKey | undefined>;
  /** Lists the keys whose names start with `prefix`, where the provider can: orphans are found this way. */
  list?(context: ProviderContext, prefix: string): Promise<readonly ProviderKey[]>;
}
