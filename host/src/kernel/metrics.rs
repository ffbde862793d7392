//! Prometheus metrics: calls, failures by cause and call durations per
//! district and app, plus component compile/cache counts.

use std::collections::BTreeMap;

use prometheus::core::Collector;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};

/// The host's metrics, served at `/metrics`.
pub struct Metrics {
    registry: Registry,
    pub(crate) calls: IntCounterVec,
    pub(crate) failures: IntCounterVec,
    pub(crate) duration: HistogramVec,
    pub(crate) compiled: IntCounter,
    pub(crate) cache_loaded: IntCounter,
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let registry = Registry::new();
        let calls = IntCounterVec::new(
            Opts::new("hutong_app_calls_total", "Calls into apps."),
            &["district", "app"],
        )
        .expect("static metric definition");
        let failures = IntCounterVec::new(
            Opts::new(
                "hutong_app_failures_total",
                "Calls into apps that failed, by cause.",
            ),
            &["district", "app", "cause"],
        )
        .expect("static metric definition");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "hutong_app_call_duration_seconds",
                "Duration of calls into apps, instantiation included.",
            )
            .buckets(vec![
                0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05,
                0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["district", "app"],
        )
        .expect("static metric definition");
        let compiled = IntCounter::new(
            "hutong_components_compiled_total",
            "Components compiled from source.",
        )
        .expect("static metric definition");
        let cache_loaded = IntCounter::new(
            "hutong_components_cache_loaded_total",
            "Components loaded precompiled from the on-disk cache.",
        )
        .expect("static metric definition");
        for m in [
            Box::new(calls.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(failures.clone()),
            Box::new(duration.clone()),
            Box::new(compiled.clone()),
            Box::new(cache_loaded.clone()),
        ] {
            registry.register(m).expect("metric names are unique");
        }
        Metrics {
            registry,
            calls,
            failures,
            duration,
            compiled,
            cache_loaded,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let encoder = TextEncoder::new();
        if let Err(err) = encoder.encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %err, "could not encode metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// What this process counted of one install's calls since it started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallFigures {
    /// Calls.
    pub calls: u64,
    /// Failed calls, by cause (`deadline`, `trap`, `memory`, …).
    pub failures: BTreeMap<String, u64>,
}

impl Metrics {
    /// Each install of `district` this process called: its calls and
    /// failures by cause, read from the counters (reading adds no series).
    pub fn call_figures(&self, district: &str) -> BTreeMap<String, CallFigures> {
        let mut out: BTreeMap<String, CallFigures> = BTreeMap::new();
        let label = |m: &prometheus::proto::Metric, name: &str| {
            m.get_label()
                .iter()
                .find(|l| l.name() == name)
                .map(|l| l.value().to_owned())
                .unwrap_or_default()
        };
        for family in self.calls.collect() {
            for m in family.get_metric() {
                if label(m, "district") == district {
                    out.entry(label(m, "app")).or_default().calls =
                        m.get_counter().get_value() as u64;
                }
            }
        }
        for family in self.failures.collect() {
            for m in family.get_metric() {
                if label(m, "district") == district {
                    let count = m.get_counter().get_value() as u64;
                    if count > 0 {
                        out.entry(label(m, "app"))
                            .or_default()
                            .failures
                            .insert(label(m, "cause"), count);
                    }
                }
            }
        }
        out.retain(|_, f| f.calls > 0 || !f.failures.is_empty());
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_figures_read_the_counters_of_one_district() {
        let m = Metrics::new();
        m.calls.with_label_values(&["east", "care"]).inc_by(3);
        m.failures
            .with_label_values(&["east", "care", "deadline"])
            .inc();
        m.calls.with_label_values(&["west", "care"]).inc();
        m.calls.with_label_values(&["east", "idle"]);
        let figures = m.call_figures("east");
        assert_eq!(figures.len(), 1, "{figures:?}");
        assert_eq!(figures["care"].calls, 3);
        assert_eq!(figures["care"].failures["deadline"], 1);
    }
}
