/**
 * A version's labels as a configuration test (`RotateImmediately=false`) leaves them: AWSPENDING on the
 * AWSCURRENT version is what a finished rotation leaves (finishSecret only moves AWSCURRENT, as the RotateSecret
 * API reference allows); RotateSecret moves it to the temporary version, which loses it after testSecret, so it
 * is gone afterwards on AWS too. Tests that check "a configuration test changes nothing" compare labels through
 * this, and check apart that AWSPENDING is on no version afterwards.
 */
export function withoutFinishedPending(labels: readonly string[]): string[] {
  return labels.includes('AWSCURRENT') ? labels.filter((l) => l !== 'AWSPENDING') : [...labels];
}

/** `VersionIdsToStages` through `withoutFinishedPending`, versions left without a label dropped, sorted. */
export function stagesAfterConfigurationTest(
  versionIdsToStages: Readonly<Record<string, readonly string[]>> | undefined,
): Record<string, string[]> {
  return Object.fromEntries(
    Object.entries(versionIdsToStages ?? {})
      .map(([id, labels]): [string, string[]] => [id, withoutFinishedPending(labels)])
      // moto lists a version whose last label was removed with no labels; AWS leaves it out (MOTO-DIFFERENCES.md).
      .filter(([, labels]) => labels.length > 0)
      .sort(),
  );
}
