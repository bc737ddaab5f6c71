import { App } from 'aws-cdk-lib';
import { ExampleStack } from './stacks/example-stack';

const app = new App();
new ExampleStack(app, 'SecretRotationExample', {
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
