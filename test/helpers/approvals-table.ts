import { CreateTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';

/**
 * Creates the approvals table with the key schema `RotationApproval` gives it (partition `secretArn`, sort
 * `requestId`; infra/constructs/rotation-approval.ts), on moto.
 */
export async function createApprovalsTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      KeySchema: [
        { AttributeName: 'secretArn', KeyType: 'HASH' },
        { AttributeName: 'requestId', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'secretArn', AttributeType: 'S' },
        { AttributeName: 'requestId', AttributeType: 'S' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
}
