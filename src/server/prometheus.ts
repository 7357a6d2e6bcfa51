// A minimal Prometheus text-format (0.0.4) registry: counters, gauges read at scrape time, and
// histograms with cumulative buckets. Every series of a metric carries the same constant labels.

type Labels = Readonly<Record<string, string>>;

interface Metric {
  render(constLabels: Labels): string;
}

function labelText(...sets: Labels[]): string {
  const parts: string[] = [];
  for (const set of sets) for (const [k, v] of Object.entries(set)) parts.push(`${k}="${escapeLabel(v)}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function num(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

function header(name: string, help: string, type: string): string {
  return `# HELP ${name} ${help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}\n# TYPE ${name} ${type}\n`;
}

export class Counter implements Metric {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  readonly name: string;
  readonly help: string;
  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
  }

  inc(by = 1, labels: Labels = {}): void {
    const key = JSON.stringify(labels);
    const entry = this.values.get(key);
    if (entry) entry.value += by;
    else this.values.set(key, { labels, value: by });
  }

  get(labels: Labels = {}): number {
    return this.values.get(JSON.stringify(labels))?.value ?? 0;
  }

  render(constLabels: Labels): string {
    let s = header(this.name, this.help, "counter");
    if (this.values.size === 0) s += `${this.name}${labelText(constLabels)} 0\n`;
    for (const { labels, value } of this.values.values()) s += `${this.name}${labelText(constLabels, labels)} ${num(value)}\n`;
    return s;
  }
}

/** A value that lives elsewhere and is read at scrape time: a gauge, or a counter kept by its owner. */
class ReadMetric implements Metric {
  readonly name: string;
  readonly help: string;
  private readonly type: "gauge" | "counter";
  private readonly read: () => number;
  constructor(type: "gauge" | "counter", name: string, help: string, read: () => number) {
    this.type = type;
    this.name = name;
    this.help = help;
    this.read = read;
  }

  render(constLabels: Labels): string {
    return header(this.name, this.help, this.type) + `${this.name}${labelText(constLabels)} ${num(this.read())}\n`;
  }
}

export class Gauge extends ReadMetric {
  constructor(name: string, help: string, read: () => number) {
    super("gauge", name, help, read);
  }
}

export class CounterFn extends ReadMetric {
  constructor(name: string, help: string, read: () => number) {
    super("counter", name, help, read);
  }
}

export class Histogram implements Metric {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;
  readonly name: string;
  readonly help: string;
  readonly buckets: readonly number[];
  constructor(name: string, help: string, buckets: readonly number[]) {
    this.name = name;
    this.help = help;
    this.buckets = buckets;
    this.counts = new Array<number>(buckets.length).fill(0);
  }

  observe(v: number): void {
    this.sum += v;
    this.count++;
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]!) this.counts[i]!++;
  }

  get total(): number {
    return this.count;
  }

  render(constLabels: Labels): string {
    let s = header(this.name, this.help, "histogram");
    this.buckets.forEach((le, i) => {
      s += `${this.name}_bucket${labelText(constLabels, { le: num(le) })} ${this.counts[i]}\n`;
    });
    s += `${this.name}_bucket${labelText(constLabels, { le: "+Inf" })} ${this.count}\n`;
    s += `${this.name}_sum${labelText(constLabels)} ${num(this.sum)}\n`;
    s += `${this.name}_count${labelText(constLabels)} ${this.count}\n`;
    return s;
  }
}

export class Registry {
  private readonly metrics: Metric[] = [];
  private readonly constLabels: Labels;
  constructor(constLabels: Labels = {}) {
    this.constLabels = constLabels;
  }

  add<M extends Metric>(m: M): M {
    this.metrics.push(m);
    return m;
  }

  render(): string {
    return this.metrics.map((m) => m.render(this.constLabels)).join("");
  }
}
