import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { auditMetrics, loadAuditCheckConfig, runAuditCheck } from './check';

const config = loadAuditCheckConfig();
const logs = new CloudWatchLogsClient({});
const metrics = auditMetrics();

/** The Lambda entry of the audit completeness check, invoked on a schedule. */
export const handler = async (): Promise<{ completeness: number; missing: number }> => {
  const report = await runAuditCheck(logs, config, metrics);
  return {
    completeness: report.completeness,
    missing: report.missingOurs.length + report.missingService.length,
  };
};
