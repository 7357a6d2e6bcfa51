// GET /metrics: Prometheus text with vLLM's metric names and meanings under a `llamats:` prefix,
// so routers and dashboards built for vLLM (queue depth, KV-cache usage, TTFT, ITL) read us
// after swapping the prefix.

import type { SchedulerObserver, SchedulerFinishReason } from "../engine/scheduler.ts";
import { Counter, CounterFn, Gauge, Histogram, Registry } from "./prometheus.ts";
import type { Engine } from "./openai.ts";

const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560];
const ITL_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];
const REQUEST_BUCKETS = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680];

export class ServerMetrics {
  readonly observer: SchedulerObserver;
  private readonly registry: Registry;
  readonly ttft: Histogram;
  readonly itl: Histogram;
  readonly e2e: Histogram;
  readonly queueTime: Histogram;
  readonly success: Counter;
  readonly httpRequests: Counter;

  constructor(modelName: string, engine: () => Engine | undefined) {
    const r = (this.registry = new Registry({ model_name: modelName }));
    const sched = () => engine()?.scheduler;
    r.add(new Gauge("llamats:num_requests_running", "Requests holding a slot (prefilling or decoding).", () => sched()?.running ?? 0));
    r.add(new Gauge("llamats:num_requests_waiting", "Requests waiting for a slot.", () => sched()?.waiting ?? 0));
    r.add(new Gauge("llamats:kv_cache_usage_perc", "KV-cache usage: fraction of cells held by running requests (1 = full).", () => {
      const s = sched();
      return s ? s.kvCellsUsed / s.kvCells : 0;
    }));
    r.add(new Gauge("llamats:kv_cache_cached_perc", "Fraction of KV cells holding reusable prefixes of finished requests (evictable).", () => {
      const s = sched();
      return s ? s.kvCellsCached / s.kvCells : 0;
    }));
    r.add(new Gauge("llamats:num_slots", "Sequences decoded together (--parallel).", () => sched()?.parallel ?? 0));
    r.add(new CounterFn("llamats:prompt_tokens_total", "Prompt tokens processed, cached ones included.", () => sched()?.counters.promptTokens ?? 0));
    r.add(new CounterFn("llamats:generation_tokens_total", "Tokens generated.", () => sched()?.counters.generatedTokens ?? 0));
    r.add(new CounterFn("llamats:prefix_cache_queries_total", "Prompt tokens looked up in the prefix cache.", () => sched()?.counters.promptTokens ?? 0));
    r.add(new CounterFn("llamats:prefix_cache_hits_total", "Prompt tokens found in the prefix cache.", () => sched()?.counters.cachedPromptTokens ?? 0));
    r.add(new CounterFn("llamats:engine_steps_total", "Forward passes run by the scheduler.", () => sched()?.counters.steps ?? 0));
    r.add(new CounterFn("llamats:engine_step_sequences_total", "Sequences carried by those forward passes (÷ steps = mean batch width).", () => sched()?.counters.stepSequences ?? 0));
    this.success = r.add(new Counter("llamats:request_success_total", "Finished requests by finish reason."));
    this.ttft = r.add(new Histogram("llamats:time_to_first_token_seconds", "Time from arrival to the first generated token.", TTFT_BUCKETS));
    this.itl = r.add(new Histogram("llamats:inter_token_latency_seconds", "Time between consecutive tokens of a sequence.", ITL_BUCKETS));
    this.e2e = r.add(new Histogram("llamats:e2e_request_latency_seconds", "Time from arrival to the end of a request.", REQUEST_BUCKETS));
    this.queueTime = r.add(new Histogram("llamats:request_queue_time_seconds", "Time a request waited for a slot.", REQUEST_BUCKETS));
    this.httpRequests = r.add(new Counter("llamats:http_requests_total", "HTTP requests answered, by status code."));
    this.observer = {
      firstToken: (s) => this.ttft.observe(s),
      interToken: (s) => this.itl.observe(s),
      queued: (s) => this.queueTime.observe(s),
      finished: (reason: SchedulerFinishReason, s) => {
        this.success.inc(1, { finished_reason: reason });
        this.e2e.observe(s);
      },
    };
  }

  render(): string {
    return this.registry.render();
  }
}
