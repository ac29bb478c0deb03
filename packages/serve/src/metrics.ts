/** Prometheus metrics (prom-client), in a registry of the server's own. */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export const makeMetrics = (state: { queue(): number; running(): number; adapters(): number }) => {
  const registry = new Registry();
  const m = {
    registry,
    requests: new Counter({ name: 'prefix_tune_requests_total', help: 'HTTP requests by route and status', labelNames: ['route', 'status'] as const, registers: [registry] }),
    promptTokens: new Counter({ name: 'prefix_tune_prompt_tokens_total', help: 'Prompt tokens of completed requests', registers: [registry] }),
    completionTokens: new Counter({ name: 'prefix_tune_completion_tokens_total', help: 'Generated tokens', registers: [registry] }),
    cancelled: new Counter({ name: 'prefix_tune_cancelled_sequences_total', help: 'Sequences that left the batch early (client gone, deadline, shutdown)', registers: [registry] }),
    ttft: new Histogram({ name: 'prefix_tune_time_to_first_token_seconds', help: 'Time from request to the first generated token', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] }),
    interToken: new Histogram({ name: 'prefix_tune_inter_token_latency_seconds', help: 'Time between consecutive tokens of a sequence', buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1], registers: [registry] }),
  };
  new Gauge({ name: 'prefix_tune_queue_depth', help: 'Sequences waiting to join the batch', registers: [registry], collect() { this.set(state.queue()); } });
  new Gauge({ name: 'prefix_tune_running_sequences', help: 'Sequences in the running batch (and beam searches)', registers: [registry], collect() { this.set(state.running()); } });
  new Gauge({ name: 'prefix_tune_resident_adapters', help: 'Adapters loaded in the prefix banks', registers: [registry], collect() { this.set(state.adapters()); } });
  return m;
};
export type Metrics = ReturnType<typeof makeMetrics>;
