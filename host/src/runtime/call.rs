//! The one way the host calls into an app: every export (an HTTP request, a
//! case change, a device event, a schedule tick) goes through
//! [`Runtime::call`], which finds the install, checks it is active, opens
//! the call's span, builds a fresh store, instantiates, runs the export
//! under the install's deadline and settles the outcome (metrics, log line,
//! captured output, failure streak and suspension).
//!
//! The design decision to know: what differs between exports is an
//! [`Export`] (its gate, its admission, the export it calls and how its
//! answer is checked); everything about limits, deadlines and failure
//! accounting is written once here, so every export is held to the same
//! rules.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument;
use tracing::field::{Empty, display};
use wasmtime::UpdateDeadline;

use crate::installs::store::InstallStatus;
use crate::kernel::app_state;
use crate::kernel::app_state::AppState;
use crate::kernel::store::Store;
use crate::kernel::wit::Prepared;
use crate::runtime::health::Health;
use crate::runtime::{CallError, Failure, Loaded, Runtime, Status};
use wasmtime::component::Instance;

/// What a call is about, beyond the install and request id: the fields its
/// `app_call` span carries.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Subject<'a> {
    /// An HTTP request.
    Request,
    /// A change of this case.
    Case(i64),
    /// A device event.
    Event {
        /// The device that sent it.
        device: &'a str,
        /// The event's id.
        event: i64,
    },
    /// A tick of this schedule.
    Tick(&'a str),
}

/// One kind of call into an app: what the funnel needs to know beyond
/// limits, deadlines and failure accounting, which are the same for all.
pub(crate) trait Export: Send {
    /// What the export returns, as wasmtime hands it over.
    type Returned: Send;
    /// What [`Export::admit`] hands on to the call.
    type Admitted: Send;
    /// What the caller gets.
    type Output: Send;

    /// Checks made before the install's status, outside the call's span
    /// (an HTTP request's caller). Most exports have none.
    fn gate(&mut self, _loaded: &Loaded) -> Result<(), CallError> {
        Ok(())
    }

    /// The grant the export needs, checked (and recorded in the access
    /// log) inside the call's span before anything reaches the app.
    /// `Err(output)` answers without calling the app.
    fn admit(
        &mut self,
        store: &Store,
        loaded: &Loaded,
        request_id: &str,
    ) -> impl Future<Output = Result<Result<Self::Admitted, Self::Output>, CallError>> + Send;

    /// Call the export on a fresh instance.
    fn invoke(
        self,
        admitted: Self::Admitted,
        app: (&Prepared, Instance),
        store: &mut wasmtime::Store<AppState>,
    ) -> impl Future<Output = wasmtime::Result<Self::Returned>> + Send;

    /// Turn what the app returned into the answer, or a failure (an
    /// oversized response, say).
    fn check(returned: Self::Returned, loaded: &Loaded) -> Result<Self::Output, Failure>;

    /// The status the call's log line reports, if the export has one.
    fn status(_output: &Self::Output) -> Option<u16> {
        None
    }

    /// Whether a refusal because the install is suspended is held back
    /// before it is answered ([`Gates::hold_refusal`](crate::runtime::shares::Gates::hold_refusal)):
    /// for requests from outside, not for the host's own deliveries, which
    /// postpone and retry on their own.
    const HOLD_REFUSALS: bool = false;
}

impl Runtime {
    /// Call `export` of `district`/`app`: find the install, check it is
    /// active, and run the export in a fresh instance under the install's
    /// memory cap and deadline, counting the outcome towards its health.
    pub(crate) async fn call<E: Export>(
        &self,
        district: &str,
        app: &str,
        request_id: String,
        subject: Subject<'_>,
        mut export: E,
    ) -> Result<E::Output, CallError> {
        let loaded = self.find(district, app).await?;
        export.gate(&loaded)?;
        let trial = match self.check_active(&loaded) {
            Ok(trial) => trial,
            Err(refused) => {
                if E::HOLD_REFUSALS {
                    self.gates
                        .hold_refusal(district, self.until_trial(&loaded))
                        .await;
                }
                return Err(refused);
            }
        };
        let span = tracing::info_span!(
            "app_call",
            district,
            app,
            version = %loaded.install.version,
            request_id = %request_id,
            case = Empty,
            device = Empty,
            event = Empty,
            schedule = Empty,
        );
        match subject {
            Subject::Request => {}
            Subject::Case(case) => {
                span.record("case", case);
            }
            Subject::Event { device, event } => {
                span.record("device", display(device));
                span.record("event", event);
            }
            Subject::Tick(schedule) => {
                span.record("schedule", schedule);
            }
        }
        async {
            let admitted = match export.admit(&self.store, &loaded, &request_id).await? {
                Ok(admitted) => admitted,
                Err(answer) => return Ok(answer),
            };
            let _slot = match self.gates.slot(district, &loaded.queue).await {
                Ok(slot) => slot,
                Err(busy) => {
                    tracing::warn!("no free slot within the install's and district's share");
                    return Err(busy);
                }
            };
            let started = Instant::now();
            let deadline = started + Duration::from_millis(loaded.install.limits.deadline_ms);
            let mut store = self.fresh_store(&loaded, request_id, deadline);
            let pre = loaded.pre.clone();
            let call = {
                let store = &mut store;
                async move {
                    let instance = pre.instantiate(store).await?;
                    export.invoke(admitted, (&pre, instance), store).await
                }
            };
            // The call's one deadline, held in two places: the epoch callback
            // stops guest code at its first tick past it (see `fresh_store`),
            // and this timer stops a call waiting in a host function or for
            // its turn. The timer alone would stop guest code too, as it
            // gives way at every tick, but late under load: tokio looks at
            // its timers only between tasks, which can be tens of ticks while
            // every thread is busy.
            let outcome =
                tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), call).await;
            self.settle::<E>(&loaded, &mut store, started, outcome, trial.is_some())
                .await
        }
        .instrument(span)
        .await
    }

    /// A fresh store for one call of `loaded`: its memory cap, and an epoch
    /// callback that stops guest code at its first tick past `deadline` and
    /// otherwise makes it give way at every tick, so that other calls on its
    /// thread run. From the tick it counts as long, the call also gives up
    /// its turn and waits for its next one (see
    /// [`shares`](crate::runtime::shares)).
    fn fresh_store(
        &self,
        loaded: &Loaded,
        request_id: String,
        deadline: Instant,
    ) -> wasmtime::Store<AppState> {
        let limits = loaded.install.limits;
        let mut state = AppState::new(
            loaded.identity.clone(),
            request_id,
            self.store.clone(),
            limits.memory_bytes,
        );
        state.database = Some(self.gates.database(&loaded.install.district));
        let mut store = wasmtime::Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        let gates = self.gates.clone();
        let district = loaded.install.district.clone();
        let turn: Arc<Mutex<Option<[OwnedSemaphorePermit; 2]>>> = Arc::default();
        // Ticks the call has run into; a short call that was only kept
        // waiting for a thread sees one at most. An install whose calls
        // ran long lately gets no benefit of the doubt: its calls count as
        // long from their second tick.
        let mut ticks = 0u32;
        let history = loaded.long_history.clone();
        let long_after = match history.recent() {
            true => LONG_AFTER_TICKS_AGAIN,
            false => LONG_AFTER_TICKS,
        };
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                return Ok(UpdateDeadline::Interrupt);
            }
            ticks += 1;
            if ticks < long_after {
                return Ok(UpdateDeadline::Yield(1));
            }
            if ticks == long_after {
                history.note();
            }
            // A long call: let the next in line run, and wait for its turn.
            drop(turn.lock().unwrap_or_else(|p| p.into_inner()).take());
            let next = gates.long_turn(&district);
            let turn = turn.clone();
            Ok(UpdateDeadline::YieldCustom(
                1,
                Box::pin(async move {
                    let permits = next.await;
                    // The call that handed over the turn woke this one first
                    // in line on its thread; go to the back instead, so
                    // other districts' short calls queued there run before.
                    tokio::task::yield_now().await;
                    *turn.lock().unwrap_or_else(|p| p.into_inner()) = permits;
                }),
            ))
        });
        store
    }

    /// Account for one finished call: the app's output, the metrics, the
    /// log line and the install's failure streak (which may suspend it).
    /// [`Export::check`] turns what the app returned into the answer, or a
    /// failure.
    async fn settle<E: Export>(
        &self,
        loaded: &Loaded,
        // `&mut` because a shared reference to a store is not `Send`.
        store: &mut wasmtime::Store<AppState>,
        started: Instant,
        outcome: Result<wasmtime::Result<E::Returned>, tokio::time::error::Elapsed>,
        trial: bool,
    ) -> Result<E::Output, CallError> {
        let (district, app) = (
            loaded.install.district.as_str(),
            loaded.install.app.as_str(),
        );
        let deadline_ms = loaded.install.limits.deadline_ms;
        let elapsed = started.elapsed();

        let (stdout, stderr) = {
            let data = store.data();
            (data.stdout.take(), data.stderr.take())
        };
        log_output(&stdout, "stdout");
        log_output(&stderr, "stderr");

        let result = match outcome {
            Err(_elapsed) => Err(Failure::Deadline {
                limit_ms: deadline_ms,
            }),
            Ok(Err(err)) => {
                if is_pool_exhausted(&err) {
                    tracing::warn!(error = %err, "instance pool exhausted");
                    return Err(CallError::Busy);
                }
                Err(classify(&err, store.data(), &stderr, deadline_ms))
            }
            Ok(Ok(answer)) => E::check(answer, loaded),
        };

        loaded.meters.calls.inc();
        loaded.meters.duration.observe(elapsed.as_secs_f64());
        match result {
            Ok(answer) => {
                loaded.health.success();
                if trial {
                    self.resume_after_trial(loaded).await;
                }
                // A call that went well is counted in the metrics (calls and
                // the duration histogram, by district and app); its line is
                // for debugging only, as writing one for every request cost
                // a sixth of the request's CPU. Failures keep their warning.
                if tracing::enabled!(tracing::Level::DEBUG) {
                    let duration_us = elapsed.as_micros() as u64;
                    match E::status(&answer) {
                        Some(status) => {
                            tracing::debug!(duration_us, status, outcome = "ok", "app call")
                        }
                        None => tracing::debug!(duration_us, outcome = "ok", "app call"),
                    }
                }
                Ok(answer)
            }
            Err(failure) => {
                self.metrics
                    .failures
                    .with_label_values(&[district, app, failure.cause()])
                    .inc();
                let detail = match &failure {
                    Failure::Trap(d) | Failure::Panic(d) => d.as_str(),
                    _ => "",
                };
                tracing::warn!(
                    duration_us = elapsed.as_micros() as u64,
                    outcome = failure.cause(),
                    detail,
                    "app call failed: {failure}"
                );
                self.note_failure(loaded, &failure, trial).await;
                Err(CallError::Failed {
                    district: district.to_owned(),
                    app: app.to_owned(),
                    failure,
                })
            }
        }
    }

    /// Count a failure towards the install's breaker, and suspend the
    /// install when it trips: after the policy's failures in a row, or at
    /// once when a trial call failed. The suspension lasts the policy's pause
    /// for this trip, after which a trial call is let through.
    async fn note_failure(&self, loaded: &Loaded, failure: &Failure, trial: bool) {
        if !failure.counts_against_app() {
            return;
        }
        let policy = self.config.failure_policy;
        if !trial && !loaded.health.failure(Instant::now(), &policy) {
            return;
        }
        let pause = policy.pause(loaded.health.trip());
        let retry_at = self.store.clock().now_ms() + pause.as_millis() as i64;
        let why = if trial {
            format!("the trial call failed: {failure}")
        } else {
            format!(
                "{} failures in a row within {} s; last: {failure}",
                policy.threshold,
                policy.window.as_secs()
            )
        };
        let reason = format!(
            "suspended after {why}; a trial call is let through after {}",
            crate::cases::format_ms(retry_at)
        );
        let (district, app) = (&loaded.install.district, &loaded.install.app);
        tracing::error!(
            district,
            app,
            reason,
            pause_s = pause.as_secs(),
            "suspending app"
        );
        if let Ok(mut s) = loaded.status.lock() {
            *s = Status {
                state: InstallStatus::Suspended,
                reason: Some(reason.clone()),
                retry_at: Some(retry_at),
            };
        }
        if let Err(err) = self
            .store
            .set_install_status_until(
                district,
                app,
                InstallStatus::Suspended,
                Some(&reason),
                Some(retry_at),
            )
            .await
        {
            tracing::error!(district, app, error = %err, "could not record suspension");
        }
        // The district's administrators hear of it when an answering app
        // stops answering; a failed trial only prolongs the pause they know.
        if !trial {
            self.alert_suspension(loaded, &why, retry_at).await;
        }
    }

    /// Tell the district's administrators, in their inbox, that the breaker
    /// paused an install, why, and when it is tried again.
    async fn alert_suspension(&self, loaded: &Loaded, why: &str, retry_at: i64) {
        let (district, app) = (&loaded.install.district, &loaded.install.app);
        let until = crate::cases::format_ms(retry_at);
        let subject = format!("应用 {app} 已自动暂停 / App {app} paused");
        let body = format!(
            "{district} 区的应用 {app} 连续调用失败，已暂停到 {until}；之后放行一次试用调用，\
             成功即自动恢复，失败则暂停时间加倍。您也可以在应用列表中直接恢复或停用它。\n\
             原因：{why}\n\n\
             App {app} in district {district} failed repeatedly and is paused until {until}. \
             Then one trial call is let through: if it succeeds the app answers again, if not \
             the pause doubles. You can also resume or suspend it yourself among the \
             district's installs.\nReason: {why}"
        );
        let key = format!("suspended:{app}:{retry_at}");
        if let Err(err) = crate::notify::ops::Sends::new(&self.store)
            .alert_administrators(district, &key, &subject, &body)
            .await
        {
            tracing::error!(district, app, error = %err, "could not alert the administrators");
        }
    }

    /// A trial call succeeded: the install answers again.
    async fn resume_after_trial(&self, loaded: &Loaded) {
        let (district, app) = (&loaded.install.district, &loaded.install.app);
        loaded.health.reset();
        if let Ok(mut s) = loaded.status.lock() {
            *s = Status {
                state: InstallStatus::Active,
                reason: None,
                retry_at: None,
            };
        }
        tracing::warn!(district, app, "resumed app after a successful trial call");
        if let Err(err) = self
            .store
            .set_install_status(district, app, InstallStatus::Active, None)
            .await
        {
            tracing::error!(district, app, error = %err, "could not record the resumption");
        }
    }

    /// A suspended install answers nothing, except one trial call at a time
    /// once a suspension after failures has lasted its pause. The trial,
    /// if any, ends when the returned guard drops.
    fn check_active<'a>(&self, loaded: &'a Loaded) -> Result<Option<Trial<'a>>, CallError> {
        let status = loaded.status.lock().unwrap_or_else(|p| p.into_inner());
        if status.state != InstallStatus::Suspended {
            return Ok(None);
        }
        if let Some(at) = status.retry_at
            && self.store.clock().now_ms() >= at
            && loaded.health.begin_trial()
        {
            return Ok(Some(Trial(&loaded.health)));
        }
        Err(CallError::Suspended {
            district: loaded.install.district.clone(),
            app: loaded.install.app.clone(),
            reason: status
                .reason
                .clone()
                .unwrap_or_else(|| "suspended".to_owned()),
        })
    }

    /// How long until a suspended install's next trial call; none known
    /// (an administrator suspended it): [`REFUSAL_HOLD`](crate::runtime::shares::REFUSAL_HOLD).
    fn until_trial(&self, loaded: &Loaded) -> Duration {
        let retry_at = loaded
            .status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retry_at;
        match retry_at {
            Some(at) => {
                Duration::from_millis(u64::try_from(at - self.store.clock().now_ms()).unwrap_or(0))
            }
            None => crate::runtime::shares::REFUSAL_HOLD,
        }
    }
}

/// A trial call under way; dropping it ends the trial, whatever came of it.
struct Trial<'a>(&'a Health);

impl Drop for Trial<'_> {
    fn drop(&mut self) {
        self.0.end_trial();
    }
}

/// The epoch ticks a call runs into before it counts as long and runs only
/// in its district's turn (see [`shares`](crate::runtime::shares)): about
/// 10 ms of running, well past any ordinary request.
const LONG_AFTER_TICKS: u32 = 10;

/// The same, for an install whose calls ran long in the last
/// [`shares::LONG_MEMORY`](crate::runtime::shares::LONG_MEMORY): a spinning
/// app's next calls spend at most about a millisecond on a thread before
/// they take turns.
const LONG_AFTER_TICKS_AGAIN: u32 = 2;

fn is_pool_exhausted(err: &wasmtime::Error) -> bool {
    err.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        .is_some()
}

fn classify(err: &wasmtime::Error, state: &AppState, stderr: &[u8], deadline_ms: u64) -> Failure {
    if state.limiter.refused {
        return Failure::Memory {
            limit_bytes: state.limiter.max_bytes as u64,
        };
    }
    if let Some(trap) = err.downcast_ref::<wasmtime::Trap>()
        && *trap == wasmtime::Trap::Interrupt
    {
        return Failure::Deadline {
            limit_ms: deadline_ms,
        };
    }
    let stderr = String::from_utf8_lossy(stderr);
    if let Some(at) = stderr.find("panicked at") {
        return Failure::Panic(stderr[at..].lines().take(3).collect::<Vec<_>>().join(" "));
    }
    Failure::Trap(format!("{err:#}"))
}

fn log_output(bytes: &[u8], stream: &'static str) {
    if bytes.is_empty() {
        return;
    }
    let text = String::from_utf8_lossy(bytes);
    for line in text.lines().filter(|l| !l.is_empty()) {
        tracing::info!(target: "hutong::app", stream, "{}", app_state::Escaped(line));
    }
    if bytes.len() >= app_state::MAX_CAPTURED_OUTPUT {
        tracing::info!(target: "hutong::app", stream, "[output truncated at {} bytes]", app_state::MAX_CAPTURED_OUTPUT);
    }
}
