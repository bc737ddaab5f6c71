import type { SecretsStore, VersionSelector } from './secrets-store';
import type { SecretVersion } from './types';

/** What the memo needs of the store: reads only. */
export type VersionReader = Pick<SecretsStore, 'getVersion'>;

/**
 * The `GetSecretValue` reads of one invocation, each made at most once: a second read of the same secret
 * and selector (the same version id and stage) returns the first one's answer, including "not found". Lives
 * for one invocation only, so a value is never carried from one step to the next, where labels may have
 * moved; `forget()` before every write of the invocation drops what the write may change (a version's
 * stages), whether the write succeeds or not. A failed read is not remembered: the next one asks again.
 */
export class VersionReadMemo {
  readonly #reads = new Map<string, Promise<SecretVersion | undefined>>();

  constructor(private readonly reader: VersionReader) {}

  /** `SecretsStore.getVersion`, once per secret and selector until the next `forget()`. */
  getVersion(secretId: string, selector: VersionSelector): Promise<SecretVersion | undefined> {
    const key = JSON.stringify([secretId, selector.versionId ?? null, selector.stage ?? null]);
    let read = this.#reads.get(key);
    if (!read) {
      read = this.reader.getVersion(secretId, selector);
      this.#reads.set(key, read);
      read.catch(() => {
        if (this.#reads.get(key) === read) this.#reads.delete(key);
      });
    }
    return read;
  }

  /** Drops every remembered read: call before a write (PutSecretValue, UpdateSecretVersionStage). */
  forget(): void {
    this.#reads.clear();
  }
}
