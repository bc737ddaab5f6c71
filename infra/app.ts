import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ExampleStack } from './stacks/example-stack';

const app = new App();
new ExampleStack(app, 'SecretRotationExample', {
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
// `npm run synth` fails on any cdk-nag AwsSolutions finding not acknowledged with its reason, as the
// example app's test does.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
