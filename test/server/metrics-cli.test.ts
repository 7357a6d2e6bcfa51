// /metrics parses as Prometheus text and its counters and histograms move with traffic;
// `llamats serve` itself starts on a free port, serves, and stops on SIGTERM.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { parsePrometheus, postJson, scrape, startServer, MODEL } from "./helpers.ts";

test("metrics: vLLM-style series parse, and counters and histograms move with requests", async () => {
  const server = await startServer({ alias: "s", parallel: 2, contextSize: 512 });
  try {
    const text = await (await fetch(server.url + "/metrics")).text();
    const samples = parsePrometheus(text);
    for (const name of [
      "llamats:num_requests_running", "llamats:num_requests_waiting", "llamats:kv_cache_usage_perc",
      "llamats:prompt_tokens_total", "llamats:generation_tokens_total",
      "llamats:time_to_first_token_seconds_count", "llamats:inter_token_latency_seconds_count", "llamats:e2e_request_latency_seconds_count",
    ]) {
      assert.ok(samples.some((s) => s.name === name && s.labels.model_name === "s"), `missing ${name}`);
    }
    assert.match(text, /# TYPE llamats:time_to_first_token_seconds histogram/);
    const before = await scrape(server.url);
    const res = await postJson(server.url + "/v1/completions", { prompt: "Once upon a time", max_tokens: 10, temperature: 0, n: 2 });
    assert.equal(res.status, 200);
    const m = await scrape(server.url);
    assert.equal(m("llamats:prompt_tokens_total") - before("llamats:prompt_tokens_total"), 5);
    assert.equal(m("llamats:generation_tokens_total") - before("llamats:generation_tokens_total"), 20);
    assert.equal(m("llamats:time_to_first_token_seconds_count") - before("llamats:time_to_first_token_seconds_count"), 1);
    // two sequences × 9 gaps between their 10 tokens
    assert.equal(m("llamats:inter_token_latency_seconds_count") - before("llamats:inter_token_latency_seconds_count"), 18);
    assert.equal(m("llamats:request_success_total", { finished_reason: "length" }), 1);
    assert.equal(m("llamats:e2e_request_latency_seconds_bucket", { le: "+Inf" }), m("llamats:e2e_request_latency_seconds_count"));
    assert.ok(m("llamats:http_requests_total", { status: "200" }) >= 2);
    // finished: nothing running, its prompt stays cached for reuse
    assert.equal(m("llamats:kv_cache_usage_perc"), 0);
    assert.ok(m("llamats:kv_cache_cached_perc") > 0);
  } finally {
    await server.close();
  }
});

test("llamats serve: listens on a free port, /health turns 200, answers, stops on SIGTERM", async () => {
  const bin = new URL("../../bin/llamats.js", import.meta.url).pathname;
  const child = spawn(process.execPath, [bin, "serve", "-m", MODEL, "--port", "0", "--parallel", "2", "-c", "512", "--alias", "tiny"], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  try {
    let err = "";
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.setEncoding("utf8");
      child.stderr.on("data", (d: string) => {
        err += d;
        const m = /listening on (http:\/\/\S+)/.exec(err);
        if (m) resolve(m[1]!);
      });
      child.once("exit", (code) => reject(new Error(`exited ${code}: ${err}`)));
    });
    let health = 0;
    for (let i = 0; i < 200 && health !== 200; i++) {
      health = (await fetch(url + "/health")).status;
      if (health !== 200) await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(health, 200);
    const res = await postJson(url + "/v1/chat/completions", { model: "tiny", messages: [{ role: "user", content: "Hello" }], max_tokens: 4 });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { model: string; usage: { completion_tokens: number } };
    assert.equal(body.model, "tiny");
    assert.ok(body.usage.completion_tokens <= 4);
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    child.kill("SIGTERM");
    assert.equal(await exited, 0);
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
  }
});
