import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { applyChatTemplate, templateWantsObjectArguments } from "../../src/chat/template.ts";
import { JinjaTemplate, TemplateError, strftime } from "../../src/chat/jinja.ts";
import { FIXTURES_URL } from "../fixtures-path.ts";

const FIX = new URL("templates/", FIXTURES_URL);
const read = (p: string) => readFileSync(new URL(p, FIX), "utf8");

test("expected-renderings.json: all 72 renderings byte-identical (errors raise)", () => {
  const { cases } = JSON.parse(read("expected-renderings.json"));
  assert.equal(cases.length, 72);
  let checked = 0;
  for (const c of cases) {
    const source = read(`jinja/${c.template}`);
    const { messages, add_generation_prompt, bos_token, eos_token, ...extra } = c.context;
    const run = () => applyChatTemplate(source, { messages, addGenerationPrompt: add_generation_prompt, bosToken: bos_token, eosToken: eos_token, extra });
    const label = `${c.template} ${c.conversation} agp=${add_generation_prompt}`;
    if ("error" in c) {
      assert.throws(run, (e: unknown) => e instanceof TemplateError && e.message === c.error, label);
    } else {
      assert.equal(run(), c.output, label);
    }
    checked++;
  }
  assert.equal(checked, 72);
});

test("llama.cpp goldens marked reproducible render byte-identical (strftime_now at 2024-07-26)", () => {
  const manifest = JSON.parse(read("llama.cpp-goldens/MANIFEST.json"));
  let checked = 0;
  for (const e of manifest.entries) {
    if (!e.pure_jinja2_reproduces) continue;
    const source = read(`llama.cpp-goldens/${e.template}`);
    const { messages, tools, add_generation_prompt, bos_token, eos_token, ...extra } = JSON.parse(read(`llama.cpp-goldens/${e.context}`));
    const out = applyChatTemplate(source, {
      messages, tools, addGenerationPrompt: add_generation_prompt, bosToken: bos_token, eosToken: eos_token, extra,
      now: new Date(2024, 6, 26),
    });
    assert.equal(out, read(`llama.cpp-goldens/${e.golden}`), e.golden);
    checked++;
  }
  assert.equal(checked, 84);
});

test("huggingface.js e2e cases (53 real templates) render as upstream", () => {
  const cases = JSON.parse(read("hf-jinja-e2e-cases.json"));
  const list = Array.isArray(cases) ? cases : cases.cases;
  assert.equal(list.length, 53);
  for (const c of list) {
    const data = { ...c.data };
    // our context keys are passed through untouched; only the clock is ours to set
    assert.equal(new JinjaTemplate(c.chat_template).render(data, { now: new Date(2025, 6, 10, 12) }), c.target, `${c.group}/${c.name}`);
  }
});

test("object arguments only for templates that print them with tojson/items", () => {
  assert.equal(templateWantsObjectArguments(read("jinja/llama3.1-instruct.jinja")), true);
  assert.equal(templateWantsObjectArguments(read("jinja/llama3.2-instruct.jinja")), true);
  assert.equal(templateWantsObjectArguments(read("jinja/mistral-nemo-instruct-2407.jinja")), false);
});

test("strftime: Python directives, C locale, %-d", () => {
  const d = new Date(2024, 6, 5, 14, 3, 9);
  assert.equal(strftime(d, "%d %b %Y"), "05 Jul 2024");
  assert.equal(strftime(d, "%-d %B %Y"), "5 July 2024");
  assert.equal(strftime(d, "%A %H:%M:%S %p %I %j %%"), "Friday 14:03:09 PM 02 187 %");
});

test("template helpers: raise_exception, range, undefined loops, reject", () => {
  const t = new JinjaTemplate("{% for i in range(3) %}{{ i }}{% endfor %}|{% for x in missing %}x{% endfor %}|{{ ['a','b','c'] | reject('equalto', 'b') | join(',') }}|{{ none | selectattr('x') | list | length }}");
  assert.equal(t.render({}), "012||a,c|0");
  assert.throws(() => new JinjaTemplate("{{ raise_exception('nope') }}").render({}), /nope/);
});
