//! The ingestion steps' metrics: `candor_ingest_step_seconds{step}`, one histogram per step,
//! and the accepted and dropped counters.

use std::time::Instant;

use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts};

use crate::metrics::Metrics;

pub(super) struct StepMetrics {
    pub dropped: IntCounterVec,
    pub accepted: IntCounter,
    // One histogram per step, looked up once here rather than by label on every event.
    pub validate: Histogram,
    pub user_agent: Histogram,
    pub drop_rules: Histogram,
    /// The event's own facts. Also observed as `enrich`, the step's name before the
    /// enrichment was split into the steps below (kept for dashboards that scrape it).
    pub event: Histogram,
    pub enrich: Histogram,
    pub referrer: Histogram,
    pub geo: Histogram,
    pub organisation: Histogram,
    pub hash: Histogram,
    /// Includes a new visit's first-touch steps (referrer, geo, organisation), which run
    /// inside it.
    pub session: Histogram,
    pub encode: Histogram,
    pub spool: Histogram,
}

impl StepMetrics {
    pub fn new(metrics: &Metrics) -> StepMetrics {
        let seconds = HistogramVec::new(
            HistogramOpts::new("ingest_step_seconds", "time spent in each ingestion step").buckets(
                vec![
                    0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001,
                    0.005, 0.025, 0.1, 0.5,
                ],
            ),
            &["step"],
        )
        .expect("static metric");
        let step = |name: &str| seconds.with_label_values(&[name]);
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
        metrics.register(Box::new(seconds));
        metrics.register(Box::new(m.dropped.clone()));
        metrics.register(Box::new(m.accepted.clone()));
        m
    }
}

/// Times consecutive steps with one clock reading between two steps.
pub(super) struct Laps(Instant);

impl Laps {
    pub fn start() -> Laps {
        Laps(Instant::now())
    }

    /// Observes the time since the previous lap (or the start) as `step`'s; returns it.
    pub fn lap(&mut self, step: &Histogram) -> f64 {
        let now = Instant::now();
        let took = now.duration_since(self.0).as_secs_f64();
        self.0 = now;
        step.observe(took);
        took
    }
}

/// Runs a step and observes its duration.
pub(super) fn timed<T>(step: &Histogram, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    step.observe(started.elapsed().as_secs_f64());
    out
}
