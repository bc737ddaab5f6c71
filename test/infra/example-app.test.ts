import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ExampleStack } from '../../infra/stacks/example-stack';

describe('the example app', () => {
  const app = new App();
  const stack = new ExampleStack(app, 'Example', { env: { account: '123456789012', region: 'eu-west-1' } });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

  it("passes cdk-nag's AwsSolutions pack with every acknowledgement carrying its reason", () => {
    // synth throws on any unacknowledged finding
    expect(() => app.synth()).not.toThrow();
  });

  it('has an alternating-users rotation of the application user, an RDS master rotation, a JWT signing key, an API key, events, alarms', () => {
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::SecretsManager::RotationSchedule', 4);
    template.resourceCountIs('AWS::RDS::DBCluster', 1);
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ ROTATION_STRATEGY: 'alternating-users' }) },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ ROTATION_KIND: 'jwt', JWT_ALGORITHM: 'ES256' }) },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({ ROTATION_KIND: 'api-key', ROTATION_STRATEGY: 'self-issued' }),
      },
    });
  });

  it("makes the RDS master's rotation wait for approval and keeps the audit trail of the bus, archived, on the dashboard", () => {
    const template = Template.fromStack(stack);
    // the master secret is tagged for the CLI; its schedule is the approval's, not Secrets Manager's
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      Tags: Match.arrayWith([{ Key: 'secret-rotation:approval', Value: 'required' }]),
    });
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'cron(0 3 ? * SUN *)',
      Targets: [Match.objectLike({ Input: '{"action":"request"}' })],
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: '/secret-rotation/audit' });
    template.hasResourceProperties('AWS::Events::Archive', { RetentionDays: 400 });
    template.hasResourceProperties('AWS::Events::Rule', {
      EventBusName: Match.anyValue(),
      EventPattern: { source: ['secret-rotation', 'secret-rotation.operations'] },
    });
    const body = JSON.stringify(template.findResources('AWS::CloudWatch::Dashboard'));
    for (const name of ['ApprovalsWaiting', 'AuditCompleteness', 'Rollbacks', 'FleetRotations'])
      expect(body).toContain(name);
    expect(stack.masterApproval).toBeDefined();
    expect(stack.audit).toBeDefined();
  });

  it('tags every rotated secret with the bus rollback and fleet rotation record on', () => {
    const template = Template.fromStack(stack);
    const busRef = { Ref: stack.getLogicalId(stack.events.eventBus.node.defaultChild as never) };
    const secrets = Object.values(template.findResources('AWS::SecretsManager::Secret')) as Array<{
      Properties: { Tags?: Array<{ Key: string; Value: unknown }> };
    }>;
    // the application user's, the master's, the JWT key's and the API key's
    expect(secrets).toHaveLength(4);
    for (const s of secrets) {
      expect(s.Properties.Tags).toEqual(
        expect.arrayContaining([{ Key: 'secret-rotation:event-bus', Value: busRef }]),
      );
    }
  });

  it('synthesizes a template cfn-lint finds no error in', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rotation-cfn-'));
    try {
      const file = join(dir, 'example.template.json');
      writeFileSync(file, JSON.stringify(Template.fromStack(stack).toJSON()));
      const result = spawnSync('cfn-lint', ['--non-zero-exit-code', 'error', file], { encoding: 'utf8' });
      if (result.error)
        throw new Error(`cfn-lint could not run: ${result.error.message} (pip install cfn-lint)`);
      expect(result.stdout + result.stderr).not.toMatch(/^E\d{4}/m);
      expect(result.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
