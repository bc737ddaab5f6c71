import { Stack, type StackProps } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import type { Construct } from 'constructs';

/**
 * The example application `cdk.json` runs. It grows with the constructs; for now it holds the event bus
 * our rotation functions publish to.
 */
export class ExampleStack extends Stack {
  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
    new events.EventBus(this, 'RotationEvents', { eventBusName: 'secret-rotation' });
  }
}
