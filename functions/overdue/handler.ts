import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { withSourceMappedErrors } from '../rotation/source-maps';
import {
  checkOverdue,
  loadOverdueConfig,
  type OverdueCheckEvent,
  overdueMetrics,
  secretIdsToCheck,
} from './check';

const config = loadOverdueConfig(process.env, { secretIdsFromEvent: true });
const client = new SecretsManagerClient({});
const metrics = overdueMetrics();

/** The Lambda entry of the overdue-rotation check, invoked on a schedule with the secrets to check. */
export const handler = withSourceMappedErrors(
  async (event?: OverdueCheckEvent): Promise<{ overdue: string[] }> => {
    const secretIds = secretIdsToCheck(config, event);
    const results = await checkOverdue(client, { ...config, secretIds }, metrics);
    return { overdue: results.filter((r) => r.overdue).map((r) => r.secret) };
  },
  __filename,
);
