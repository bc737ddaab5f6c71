import type { CachedSecret, SecretChangeListener, SecretValueSource } from '../../../client/types';

/** An in-memory `SecretValueSource`: versions are put by the test, reads are counted, failures injected. */
export class MemorySource implements SecretValueSource {
  #value: CachedSecret;
  #version = 0;
  readonly #listeners = new Set<SecretChangeListener>();
  reads = 0;
  /** Makes every read fail while set. */
  failReads: Error | undefined;

  constructor(
    readonly secretId: string,
    secretString: string,
  ) {
    this.#value = this.#next(secretString);
  }

  /** Puts a new AWSCURRENT version without telling anyone (as a rotation whose event is lost). */
  put(secretString: string): string {
    this.#value = this.#next(secretString);
    return this.#value.versionId;
  }

  /** While set, reads wait for it (they still return the value current when they started). */
  gate: Promise<void> | undefined;

  async current(): Promise<CachedSecret> {
    this.reads++;
    const value = this.#value;
    if (this.gate) await this.gate;
    if (this.failReads) throw this.failReads;
    return value;
  }

  async stage(): Promise<CachedSecret | undefined> {
    return undefined;
  }

  invalidate(secretId: string): void {
    for (const listener of this.#listeners) listener(secretId);
  }

  onChange(listener: SecretChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #next(secretString: string): CachedSecret {
    this.#version++;
    return { secretId: this.secretId, versionId: `v${this.#version}`, secretString, stages: ['AWSCURRENT'] };
  }
}
