// Prometheus metrics, one registry per Kasa instance (GET /metrics).
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  httpRequestSeconds: Histogram<'method' | 'route' | 'status'>;
  webhookAttempts: Counter<'outcome'>;
  webhookAttemptSeconds: Histogram;
  rateQuotesAccepted: Counter<'currency'>;
  rateQuotesRefused: Counter<'currency' | 'reason'>;
  createInvoiceBatchSize: Histogram;
}

export function createMetrics(options: { defaultMetrics: boolean } = { defaultMetrics: true }): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'kasa_' });
  return {
    registry,
    createInvoiceBatchSize: new Histogram({
      name: 'kasa_create_invoice_batch_size',
      help: 'create-invoice requests sent to the database together, one statement and one commit per batch',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers: [registry],
    }),
    httpRequestSeconds: new Histogram({
      name: 'kasa_http_request_duration_seconds',
      help: 'HTTP requests by route and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    webhookAttempts: new Counter({
      name: 'kasa_webhook_attempts_total',
      help: 'Webhook delivery attempts by outcome (delivered, retry, failed)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    webhookAttemptSeconds: new Histogram({
      name: 'kasa_webhook_attempt_duration_seconds',
      help: 'Duration of webhook delivery attempts',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15],
      registers: [registry],
    }),
    rateQuotesAccepted: new Counter({
      name: 'kasa_rate_quotes_accepted_total',
      help: 'Quotes of http_json rate sources accepted as the rate, by currency',
      labelNames: ['currency'],
      registers: [registry],
    }),
    rateQuotesRefused: new Counter({
      name: 'kasa_rate_quotes_refused_total',
      help: 'Quotes of http_json rate sources refused (the last good rate stays), by currency and reason',
      labelNames: ['currency', 'reason'],
      registers: [registry],
    }),
  };
}
