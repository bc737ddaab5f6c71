import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { withSourceMappedErrors } from '../rotation/source-maps';
import { checkOverdue, loadOverdueConfig, overdueMetrics } from './check';

const config = loadOverdueConfig();
const client = new SecretsManagerClient({});
const metrics = overdueMetrics();

/** The Lambda entry of the overdue-rotation check, invoked on a schedule. */
export const handler = withSourceMappedErrors(async (): Promise<{ overdue: string[] }> => {
  const results = await checkOverdue(client, config, metrics);
  return { overdue: results.filter((r) => r.overdue).map((r) => r.secret) };
}, __filename);
