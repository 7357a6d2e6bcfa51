import { test } from "node:test";
import assert from "node:assert/strict";
import { StopStringMatcher } from "../../src/sample/stop.ts";

function feed(stops: string[], pieces: string[]) {
  const m = new StopStringMatcher(stops);
  const out: string[] = [];
  let stopped: string | undefined;
  for (const p of pieces) {
    const r = m.push(p);
    out.push(r.text);
    stopped ??= r.stopped;
  }
  return { out, text: out.join("") + m.flush(), stopped };
}

test("a stop string spanning tokens ends the text before it; nothing after is emitted", () => {
  const r = feed(["\nUser:"], ["Hello", " there\n", "Us", "er:", " more", " text"]);
  assert.equal(r.text, "Hello there");
  assert.equal(r.stopped, "\nUser:");
  assert.deepEqual(r.out, ["Hello", " there", "", "", "", ""]);
});

test("held-back text is released as soon as it cannot start a stop string", () => {
  const r = feed(["</answer>"], ["x <", "/ans", "wer", "!", " ok"]);
  assert.deepEqual(r.out, ["x ", "", "", "</answer!", " ok"]);
  assert.equal(r.stopped, undefined);
  assert.equal(r.text, "x </answer! ok");
});

test("held-back tail is flushed at the end of generation", () => {
  const m = new StopStringMatcher(["STOP"]);
  assert.equal(m.push("abc ST").text, "abc ");
  assert.equal(m.flush(), "ST");
});

test("overlapping candidates: the earliest complete match wins, restarts inside a partial match", () => {
  assert.equal(feed(["ab"], ["a", "a", "b", "c"]).text, "a");
  assert.equal(feed(["abc", "bcd"], ["ab", "cd"]).text, "");
  assert.equal(feed(["xyz", "yz"], ["wx", "yz"]).text, "w");
  assert.equal(feed(["aab"], ["a", "a", "a", "b"]).text, "a");
});

test("a stop inside one token cuts it; empty stop list passes everything", () => {
  assert.equal(feed(["END"], ["fooENDbar"]).text, "foo");
  assert.deepEqual(feed([], ["a", "b"]).out, ["a", "b"]);
  assert.deepEqual(feed([""], ["a"]).out, ["a"]);
});
