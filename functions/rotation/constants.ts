/**
 * The four steps of Secrets Manager's rotation protocol, in the camelCase spelling the service sends.
 * The snake_case spelling (`create_secret`, ...) used in parts of the documentation is accepted and
 * normalised to these values.
 */
export const RotationStep = {
  CREATE: 'createSecret',
  SET: 'setSecret',
  TEST: 'testSecret',
  FINISH: 'finishSecret',
} as const;
export type RotationStep = (typeof RotationStep)[keyof typeof RotationStep];

/** Staging labels Secrets Manager uses to track a rotation. */
export const Stage = {
  CURRENT: 'AWSCURRENT',
  PENDING: 'AWSPENDING',
  PREVIOUS: 'AWSPREVIOUS',
} as const;
export type Stage = (typeof Stage)[keyof typeof Stage];

/** `source` of every EventBridge event our rotation functions publish. */
export const EVENT_SOURCE = 'secret-rotation';

/** `detail-type` of every EventBridge event our rotation functions publish. */
export const EventDetailType = {
  STARTED: 'Secret Rotation Started',
  ROTATED: 'Secret Rotated',
  FAILED: 'Secret Rotation Failed',
  /** A follow-up action that happened after finishSecret, such as an API key revoked after its grace period. */
  FOLLOW_UP: 'Secret Rotation Follow-up',
} as const;
export type EventDetailType = (typeof EventDetailType)[keyof typeof EventDetailType];

/** CloudWatch metric names published as EMF by every rotation function. */
export const MetricName = {
  SUCCEEDED: 'RotationSucceeded',
  FAILED: 'RotationFailed',
  STEP_DURATION: 'StepDuration',
  /**
   * Attempts AWS answered with a throttling error during one step invocation (or one API key sweep), those the
   * SDK retried successfully included; published for every invocation, 0 included.
   */
  THROTTLED_REQUESTS: 'ThrottledRequests',
} as const;

/** Default CloudWatch namespace of our metrics, overridable with `POWERTOOLS_METRICS_NAMESPACE`. */
export const DEFAULT_METRICS_NAMESPACE = 'SecretRotation';

/**
 * Characters excluded from generated passwords unless configured otherwise: the ones that break
 * connection strings, shell quoting and the AWS templates' own conventions.
 */
export const DEFAULT_EXCLUDE_CHARACTERS = '/@"\'\\';

/** Default length of generated passwords. */
export const DEFAULT_PASSWORD_LENGTH = 32;
