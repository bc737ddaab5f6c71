import type { Template } from 'aws-cdk-lib/assertions';

/** One series a dashboard charts. */
export interface ChartedSeries {
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: Record<string, string>;
  /** The statistic the widget asks for ('' when it names none). */
  readonly stat: string;
  /** The widget's title. */
  readonly title: string;
  /** The dashboard's logical id. */
  readonly dashboard: string;
}

/** One metric of an EMF blob: its namespace, name and the values of one of its dimension sets. */
export interface EmittedSeries {
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: Record<string, string>;
}

/** A template value as a string: `Fn::Join` joined, a `Ref` as `ref:<id>`, anything else `TOKEN`. */
export function flatten(value: unknown): string {
  if (typeof value === 'string') return value;
  const node = (value ?? {}) as Record<string, unknown>;
  if (node['Fn::Join']) return ((node['Fn::Join'] as [string, unknown[]])[1] ?? []).map(flatten).join('');
  if (typeof node.Ref === 'string') return `ref:${node.Ref}`;
  return 'TOKEN';
}

/**
 * Every metric series of the synthesized dashboards (math expressions aside: their inputs are series too),
 * with CloudWatch's `.` shorthand (the previous row's value at that position) expanded.
 */
export function dashboardSeries(template: Template): ChartedSeries[] {
  const out: ChartedSeries[] = [];
  for (const [id, resource] of Object.entries(template.findResources('AWS::CloudWatch::Dashboard'))) {
    const body = JSON.parse(flatten(resource.Properties.DashboardBody)) as {
      widgets: Array<{ properties: { title?: string; metrics?: unknown[][] } }>;
    };
    for (const widget of body.widgets) {
      let previous: unknown[] = [];
      for (const row of widget.properties.metrics ?? []) {
        if (typeof row[0] !== 'string') continue;
        const cells = row.map((cell, i) => (cell === '.' ? previous[i] : cell));
        previous = cells;
        const [namespace, metricName, ...rest] = cells as [string, string, ...unknown[]];
        const dimensions: Record<string, string> = {};
        let options: { stat?: string } = {};
        for (let i = 0; i < rest.length; i++) {
          const item = rest[i];
          if (typeof item === 'string') {
            dimensions[item] = String(rest[i + 1]);
            i++;
          } else options = item as { stat?: string };
        }
        out.push({
          namespace,
          metricName,
          dimensions,
          stat: options.stat ?? '',
          title: widget.properties.title ?? '',
          dashboard: id,
        });
      }
    }
  }
  return out;
}

/** The metrics of the EMF blobs among console lines, one entry per metric and dimension set. */
export function emfSeries(lines: readonly string[]): EmittedSeries[] {
  const out: EmittedSeries[] = [];
  for (const line of lines) {
    if (!line.includes('"_aws"')) continue;
    const blob = JSON.parse(line) as Record<string, unknown> & {
      _aws: {
        CloudWatchMetrics: Array<{
          Namespace: string;
          Dimensions: string[][];
          Metrics: Array<{ Name: string }>;
        }>;
      };
    };
    for (const directive of blob._aws.CloudWatchMetrics) {
      for (const set of directive.Dimensions.length > 0 ? directive.Dimensions : [[]]) {
        const dimensions = Object.fromEntries(set.map((d) => [d, String(blob[d])]));
        for (const m of directive.Metrics)
          out.push({ namespace: directive.Namespace, metricName: m.Name, dimensions });
      }
    }
  }
  return out;
}

/** Whether `series` is among `emitted`: same namespace, metric name, dimension names and values. */
export function isEmitted(series: Omit<EmittedSeries, never>, emitted: readonly EmittedSeries[]): boolean {
  const key = (s: EmittedSeries) =>
    JSON.stringify([
      s.namespace,
      s.metricName,
      Object.entries(s.dimensions).sort(([a], [b]) => a.localeCompare(b)),
    ]);
  const wanted = key(series);
  return emitted.some((e) => key(e) === wanted);
}
