/**
 * Collects a run's outcomes: an HDR histogram of all latencies (microseconds, 3 significant
 * digits), a per-second timeline (ops, errors, p50, p99 of the requests that completed in that
 * second of the run), and errors counted by status code name. Seconds are counted from the
 * start of the measured phase; an outcome is filed under the second in which it completed, so
 * the timeline's ops add up to the total exactly.
 */
import * as hdr from "hdr-histogram-js";

/** The largest latency recorded as itself: 1 hour. Larger ones are recorded as this (and show as max). */
const HIGHEST_LATENCY_US = 3_600_000_000;

export interface TimelineSecond {
  second: number;
  ops: number;
  errors: number;
  p50_ms: number;
  p99_ms: number;
}

export interface LatencySummaryMs {
  p50: number;
  p90: number;
  p99: number;
  p99_9: number;
  max: number;
  mean: number;
}

function newHistogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_LATENCY_US, numberOfSignificantValueDigits: 3 });
}

const usToMs = (us: number): number => us / 1000;

export class Recorder {
  ops = 0;
  errors = 0;
  readonly errorsByCode: Record<string, number> = {};
  readonly timeline: TimelineSecond[] = [];
  private readonly total = newHistogram();
  private readonly currentSecond = newHistogram();
  private currentOps = 0;
  private currentErrors = 0;

  constructor(
    /** The start of the measured phase, on the run's clock. */
    readonly startMs: number,
  ) {}

  recordSuccess(latencyMs: number, atMs: number): void {
    this.advanceTo(atMs);
    const us = Math.min(HIGHEST_LATENCY_US, Math.max(0, Math.round(latencyMs * 1000)));
    this.total.recordValue(us);
    this.currentSecond.recordValue(us);
    this.ops++;
    this.currentOps++;
  }

  recordError(codeName: string, atMs: number): void {
    this.advanceTo(atMs);
    this.errors++;
    this.currentErrors++;
    this.errorsByCode[codeName] = (this.errorsByCode[codeName] ?? 0) + 1;
  }

  /** Closes every whole second before `atMs` (empty seconds included), so the timeline has no gaps. */
  advanceTo(atMs: number): void {
    const second = Math.max(0, Math.floor((atMs - this.startMs) / 1000));
    while (this.timeline.length < second) this.closeSecond();
  }

  /** Closes the last, partial second (if anything happened in it) and frees the histograms. */
  finish(atMs: number): void {
    this.advanceTo(atMs);
    if (this.currentOps > 0 || this.currentErrors > 0) this.closeSecond();
  }

  latencyMs(): LatencySummaryMs {
    const h = this.total;
    // HDR reports a percentile as the top of its bucket, which can lie above the exact maximum;
    // capping keeps p50 <= ... <= p99.9 <= max.
    const at = (percentile: number): number => usToMs(Math.min(h.getValueAtPercentile(percentile), h.maxValue));
    return { p50: at(50), p90: at(90), p99: at(99), p99_9: at(99.9), max: usToMs(h.maxValue), mean: usToMs(h.mean) };
  }

  /** p99 of everything recorded so far, in ms (for the progress line). */
  p99SoFarMs(): number {
    return usToMs(this.total.getValueAtPercentile(99));
  }

  destroy(): void {
    this.total.destroy();
    this.currentSecond.destroy();
  }

  private closeSecond(): void {
    this.timeline.push({
      second: this.timeline.length,
      ops: this.currentOps,
      errors: this.currentErrors,
      p50_ms: usToMs(this.currentSecond.getValueAtPercentile(50)),
      p99_ms: usToMs(this.currentSecond.getValueAtPercentile(99)),
    });
    this.currentSecond.reset();
    this.currentOps = 0;
    this.currentErrors = 0;
  }
}
