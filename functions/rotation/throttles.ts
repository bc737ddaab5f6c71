import { AsyncLocalStorage } from 'node:async_hooks';
// The SDK's own classifier, the one its retry strategy uses to pick the throttling backoff. The SDK clients
// already load this module, so it costs nothing at cold start.
import { isThrottlingError } from '@smithy/core/retry';
import type {
  DeserializeHandler,
  DeserializeHandlerArguments,
  DeserializeHandlerOptions,
  DeserializeMiddleware,
  MetadataBearer,
} from '@smithy/types';

/** The name our middleware takes in a client's middleware stack. */
export const THROTTLE_COUNTER_MIDDLEWARE = 'secretRotationThrottleCounter';

/** How many attempts AWS answered with a throttling error, over one invocation (or one CLI run). */
export class ThrottleCount {
  #value = 0;

  get value(): number {
    return this.#value;
  }

  /** One more throttled attempt. */
  add(): void {
    this.#value++;
  }
}

/** The counters an attempt counts into: the innermost `withThrottleCount`'s and those around it. */
const counts = new AsyncLocalStorage<readonly ThrottleCount[]>();

/**
 * Runs `fn` with `count` as the counter of every throttled attempt made by a counting client (see
 * `countThrottles`) for `fn` and everything it awaits or schedules. Invocations that overlap in one process
 * each keep their own counter. Nested, an attempt counts in every counter around it too: a CLI run that
 * invokes handlers in-process counts their throttled attempts as well as its own.
 */
export function withThrottleCount<T>(count: ThrottleCount, fn: () => Promise<T>): Promise<T> {
  return counts.run([...(counts.getStore() ?? []), count], fn);
}

/** The smallest part of an SDK client we need: its middleware stack. */
export interface MiddlewareStackHolder {
  readonly middlewareStack: {
    // A method (bivariant in its parameters): every SDK client's stack has its own input and output types.
    add(
      middleware: DeserializeMiddleware<object, MetadataBearer>,
      options: DeserializeHandlerOptions & { name: string; priority: 'high'; override: true },
    ): void;
  };
}

/**
 * Adds, to `client`, a middleware that counts each attempt AWS answers with a throttling error, into the
 * counter of the invocation under way (nothing outside `withThrottleCount`). It sits in the `deserialize`
 * step, inside the retry loop (the retry middleware is in `finalizeRequest`): it sees every attempt, so a
 * request that succeeded after two throttled attempts counts 2. High priority puts it outside the
 * deserializer, so what it sees is the service's error as the SDK parsed it, classified by the SDK itself
 * (`ThrottlingException` and the like by name, HTTP 429, the throttling trait). Adding it twice replaces it.
 * Returns the client.
 */
export function countThrottles<C extends MiddlewareStackHolder>(client: C): C {
  client.middlewareStack.add(
    (next: DeserializeHandler<object, MetadataBearer>) =>
      async (args: DeserializeHandlerArguments<object>) => {
        try {
          return await next(args);
        } catch (error) {
          if (isThrottled(error)) for (const count of counts.getStore() ?? []) count.add();
          throw error;
        }
      },
    { step: 'deserialize', name: THROTTLE_COUNTER_MIDDLEWARE, priority: 'high', override: true },
  );
  return client;
}

function isThrottled(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  return isThrottlingError(error as Parameters<typeof isThrottlingError>[0]);
}
