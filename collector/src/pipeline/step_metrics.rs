//! The ingestion steps' metrics: `candor_ingest_step_seconds{step}`, one histogram per step,
//! and the accepted and dropped counters.
//!
//! Both HTTP workers observe every step of every beacon. One shared histogram per step moved
//! its atomics between the two cores on each observation, so each step's histogram is sharded
//! by thread: a thread observes into a shard of its own, and a scrape adds the shards up.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use prometheus::core::{Collector, Desc};
use prometheus::proto::{Metric, MetricFamily};
use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts};

use crate::metrics::Metrics;

/// Shards per step: a thread observes into shard `(its number) % SHARDS`.
const SHARDS: usize = 8;

/// One step's histogram, sharded by thread.
pub(super) struct Step([Histogram; SHARDS]);

impl Step {
    pub fn observe(&self, seconds: f64) {
        self.0[thread_shard()].observe(seconds);
    }
}

/// This thread's shard: threads are numbered in the order they first observe.
fn thread_shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local!(static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS);
    SHARD.with(|s| *s)
}

pub(super) struct StepMetrics {
    pub dropped: IntCounterVec,
    pub accepted: IntCounter,
    pub validate: Step,
    pub user_agent: Step,
    pub drop_rules: Step,
    /// The event's own facts. Also observed as `enrich`, the step's name before the
    /// enrichment was split into the steps below (kept for dashboards that scrape it).
    pub event: Step,
    pub enrich: Step,
    pub referrer: Step,
    pub geo: Step,
    pub organisation: Step,
    pub hash: Step,
    /// Includes a new visit's first-touch steps (referrer, geo, organisation), which run
    /// inside it.
    pub session: Step,
    pub encode: Step,
    pub spool: Step,
}

impl StepMetrics {
    pub fn new(metrics: &Metrics) -> StepMetrics {
        let shards: Vec<HistogramVec> = (0..SHARDS)
            .map(|_| {
                HistogramVec::new(
                    HistogramOpts::new("ingest_step_seconds", "time spent in each ingestion step")
                        .buckets(vec![
                            0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5,
                            0.001, 0.005, 0.025, 0.1, 0.5,
                        ]),
                    &["step"],
                )
                .expect("static metric")
            })
            .collect();
        // Every step exists in every shard from the start, so each is scraped (as 0) before
        // its first beacon and the shards add up label by label.
        let step = |name: &str| {
            Step(std::array::from_fn(|i| {
                shards[i].with_label_values(&[name])
            }))
        };
        let m = StepMetrics {
            validate: step("validate"),
            user_agent: step("user_agent"),
            drop_rules: step("drop_rules"),
            event: step("event"),
            enrich: step("enrich"),
            referrer: step("referrer"),
            geo: step("geo"),
            organisation: step("organisation"),
            hash: step("hash"),
            session: step("session"),
            encode: step("encode"),
            spool: step("spool"),
            dropped: IntCounterVec::new(
                Opts::new(
                    "ingest_dropped_total",
                    "events deliberately not stored, by reason",
                ),
                &["reason"],
            )
            .expect("static metric"),
            accepted: IntCounter::new("ingest_accepted_total", "events written to the spool")
                .expect("static metric"),
        };
        metrics.register(Box::new(Sharded(shards)));
        metrics.register(Box::new(m.dropped.clone()));
        metrics.register(Box::new(m.accepted.clone()));
        m
    }
}

/// The shards of `candor_ingest_step_seconds` as one metric: each scrape adds them up.
struct Sharded(Vec<HistogramVec>);

impl Collector for Sharded {
    fn desc(&self) -> Vec<&Desc> {
        self.0[0].desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut families = self.0[0].collect();
        for shard in &self.0[1..] {
            for (family, other) in families.iter_mut().zip(shard.collect()) {
                for o in other.get_metric() {
                    let same_step = |m: &&mut Metric| m.get_label() == o.get_label();
                    let Some(m) = family.mut_metric().iter_mut().find(same_step) else {
                        continue;
                    };
                    let (Some(sum), Some(add)) = (m.histogram.0.as_mut(), o.histogram.0.as_ref())
                    else {
                        continue;
                    };
                    sum.sample_count = Some(sum.get_sample_count() + add.get_sample_count());
                    sum.sample_sum = Some(sum.get_sample_sum() + add.get_sample_sum());
                    for (b, a) in sum.bucket.iter_mut().zip(&add.bucket) {
                        b.cumulative_count = Some(b.cumulative_count() + a.cumulative_count());
                    }
                }
            }
        }
        families
    }
}

/// Times consecutive steps with one clock reading between two steps.
pub(super) struct Laps(Instant);

impl Laps {
    pub fn start() -> Laps {
        Laps(Instant::now())
    }

    /// Observes the time since the previous lap (or the start) as `step`'s; returns it.
    pub fn lap(&mut self, step: &Step) -> f64 {
        let now = Instant::now();
        let took = now.duration_since(self.0).as_secs_f64();
        self.0 = now;
        step.observe(took);
        took
    }
}

/// Runs a step and observes its duration.
pub(super) fn timed<T>(step: &Step, f: impl FnOnce() -> T) -> T {
    let mut laps = Laps::start();
    let out = f();
    laps.lap(step);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of `line`'s metric in the text format.
    fn value(text: &str, line: &str) -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(line)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {line} in\n{text}"))
    }

    #[test]
    fn the_shards_of_every_thread_add_up_at_a_scrape() {
        let metrics = Metrics::new();
        let steps = std::sync::Arc::new(StepMetrics::new(&metrics));
        let threads: Vec<_> = (0..SHARDS + 3)
            .map(|i| {
                let steps = steps.clone();
                std::thread::spawn(move || {
                    for _ in 0..10 {
                        steps.validate.observe(0.000_02);
                    }
                    steps.hash.observe(0.2 + i as f64);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let text = metrics.render();
        let n = (SHARDS + 3) as f64;
        let series =
            |name: &str, step: &str| format!("candor_ingest_step_seconds_{name}{{step=\"{step}\"");
        assert_eq!(value(&text, &(series("count", "validate") + "}")), n * 10.0);
        assert_eq!(
            value(&text, &(series("bucket", "validate") + ",le=\"0.00001\"}")),
            0.0
        );
        assert_eq!(
            value(&text, &(series("bucket", "validate") + ",le=\"0.000025\"}")),
            n * 10.0
        );
        assert!(
            (value(&text, &(series("sum", "validate") + "}")) - n * 10.0 * 0.000_02).abs() < 1e-9
        );
        assert_eq!(
            value(&text, &(series("bucket", "hash") + ",le=\"0.5\"}")),
            1.0
        );
        assert_eq!(value(&text, &(series("count", "hash") + "}")), n);
        // A step no beacon reached yet is there, at zero.
        assert_eq!(value(&text, &(series("count", "geo") + "}")), 0.0);
    }
}
