// How a kept quote reads in the admin API.
import { isoSeconds } from '../clock.ts';
import { formatPercent, formatRate, formatRawRate } from '../money.ts';
import type { QuoteRow } from './sources.ts';

export function quoteView(q: QuoteRow) {
  return {
    quote_id: q.id,
    fetched_at: isoSeconds(q.fetched_at),
    accepted: q.accepted,
    reason: q.reason,
    http_status: q.http_status,
    raw_text: q.raw_text,
    raw_rate: q.raw_rate === null ? null : formatRawRate(q.raw_rate),
    markup_percent: q.markup_percent === null ? null : formatPercent(q.markup_percent),
    rate: q.rate === null ? null : formatRate(q.rate),
  };
}
